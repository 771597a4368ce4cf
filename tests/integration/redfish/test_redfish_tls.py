"""HTTPS with a self-signed BMC certificate: verified against a CA, pinned, or insecure."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from emulator.cluster import EmulatedCluster
from gateway.redfish import BmcClient, BmcEndpoint, TlsError, TlsMode, probe

from .conftest import TEST_MODEL


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster(nodes=1, models=[TEST_MODEL], tls=True) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def fingerprint(tls_cluster: EmulatedCluster) -> str:
    assert tls_cluster.tls_cert_path is not None
    cert = x509.load_pem_x509_certificate(tls_cluster.tls_cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":")


def https_endpoint(cluster: EmulatedCluster, **kwargs: object) -> BmcEndpoint:
    node = cluster.inventory[0]
    assert node["url"].startswith("https://")
    return BmcEndpoint(node["id"], node["url"], node["username"], node["password"],
                       timeout=10.0, **kwargs)  # type: ignore[arg-type]


def test_self_signed_certificate_is_refused_by_default(tls_cluster: EmulatedCluster) -> None:
    with pytest.raises(TlsError) as caught:
        BmcClient.connect(https_endpoint(tls_cluster))
    assert not caught.value.transient


def test_certificate_verified_against_a_configured_ca_bundle(
        tls_cluster: EmulatedCluster) -> None:
    endpoint = https_endpoint(tls_cluster, ca_bundle=str(tls_cluster.tls_cert_path))
    with BmcClient.connect(endpoint) as client:
        assert client.inventory().model == TEST_MODEL


def test_pinned_fingerprint_is_accepted(tls_cluster: EmulatedCluster, fingerprint: str) -> None:
    endpoint = https_endpoint(tls_cluster, tls=TlsMode.PIN, fingerprint=fingerprint.upper())
    with BmcClient.connect(endpoint) as client:
        assert client.inventory().model == TEST_MODEL
    assert probe(endpoint)


def test_other_fingerprint_is_refused(tls_cluster: EmulatedCluster, fingerprint: str) -> None:
    wrong = "00" * 32
    assert wrong != fingerprint.replace(":", "")
    endpoint = https_endpoint(tls_cluster, tls=TlsMode.PIN, fingerprint=wrong)
    with pytest.raises(TlsError, match="TLS verification failed"):
        BmcClient.connect(endpoint)
    assert not probe(endpoint)


def test_insecure_mode_works_and_is_logged(tls_cluster: EmulatedCluster,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.redfish")
    endpoint = https_endpoint(tls_cluster, tls=TlsMode.INSECURE)
    with BmcClient.connect(endpoint) as client:
        assert client.inventory().model == TEST_MODEL
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("gateway.redfish")]
    assert any("verification is OFF" in m and endpoint.name in m for m in warnings)
    assert not any(endpoint.password in m for m in warnings)
