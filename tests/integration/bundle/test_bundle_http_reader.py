"""Reading bundles over real HTTP on loopback: Range reads, cost, and the no-Range fallback."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from flask import Flask, Response, send_from_directory

from emulator.tls import make_self_signed
from firmware_payloads import (
    BundleFormatError,
    FetchError,
    SizeLimitError,
    open_bundle,
    verify_bundle,
)
from firmware_payloads.sources import CONNECT_RETRY_PAUSES_S
from tests.support.resetting_front import ResettingFront
from tests.support.wsgi import serving


def test_remote_manifest_matches_local_and_costs_little(
    sample_bundle: Path, http_bundle_server, test_keys
) -> None:
    served = http_bundle_server(sample_bundle.parent)
    with open_bundle(sample_bundle) as local:
        local_manifest = local.manifest_bytes
    with open_bundle(served.url(sample_bundle.name)) as remote:
        assert remote.size == sample_bundle.stat().st_size
        assert remote.manifest_bytes == local_manifest
        assert remote.manifest.bundle_id == "fleetflash-2026q4"
        assert remote.bytes_transferred < 1_000_000
    # The server's own count agrees: only a few small ranged reads were needed.
    assert served.bytes_sent < 1_000_000
    assert set(served.statuses) == {206}
    assert len(served.requests) <= 2  # the metadata sits in the first 128 KiB


def test_remote_payload_reads_only_that_payload(
    sample_bundle: Path, http_bundle_server, test_keys
) -> None:
    served = http_bundle_server(sample_bundle.parent)
    with open_bundle(served.url(sample_bundle.name)) as remote:
        before = remote.bytes_transferred
        pkg = remote.manifest.package("nic-bcm57414-22.31.6")
        data = remote.read_payload(pkg)
        assert hashlib.sha256(data).hexdigest() == pkg.sha256
        assert remote.bytes_transferred - before == pkg.size
    assert served.bytes_sent < sample_bundle.stat().st_size / 4


def test_remote_verify_of_whole_bundle(sample_bundle: Path, http_bundle_server, test_keys) -> None:
    served = http_bundle_server(sample_bundle.parent)
    with open_bundle(served.url(sample_bundle.name)) as remote:
        manifest = verify_bundle(remote, [test_keys.public_key()])
    assert len(manifest.packages) == 7


def test_server_without_range_falls_back_to_streamed_read(
    bundle_factory, http_bundle_server_no_range, test_keys
) -> None:
    path = bundle_factory()
    served = http_bundle_server_no_range(path.parent)
    with open_bundle(served.url(path.name), max_stream_bytes=10_000_000) as remote:
        manifest = verify_bundle(remote, [test_keys.public_key()])
        assert remote.bytes_transferred == path.stat().st_size
    assert manifest.bundle_id == "test-bundle"
    assert served.statuses == [200]


def test_server_without_range_over_the_cap_is_refused(
    bundle_factory, http_bundle_server_no_range
) -> None:
    path = bundle_factory()
    served = http_bundle_server_no_range(path.parent)
    with pytest.raises(SizeLimitError, match="ignores HTTP Range.*10000 byte streaming cap"):
        open_bundle(served.url(path.name), max_stream_bytes=10_000)


def test_missing_remote_bundle_names_the_status(tmp_path: Path, http_bundle_server) -> None:
    served = http_bundle_server(tmp_path)
    with pytest.raises(FetchError, match="HTTP 404"):
        open_bundle(served.url("absent.iso"))


def test_unreachable_server_is_a_fetch_error_without_credentials() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="connection failed") as caught:
        open_bundle(f"http://user:secret@127.0.0.1:{port}/bundle.iso", timeout=5)
    assert "secret" not in str(caught.value)
    assert f"http://127.0.0.1:{port}/bundle.iso" in str(caught.value)


def test_connections_reset_before_an_answer_are_tried_again(
    sample_bundle: Path, http_bundle_server, test_keys
) -> None:
    # A busy server's full accept queue, or a keep-alive connection it closed a moment
    # before: the reader (an emulated BMC's virtual CD, the gateway) connects again.
    served = http_bundle_server(sample_bundle.parent)
    upstream = ("127.0.0.1", int(served.base_url.rsplit(":", 1)[1]))
    with ResettingFront(upstream, resets=2).running() as front, \
            open_bundle(front.url(sample_bundle.name)) as remote:
        manifest = verify_bundle(remote, [test_keys.public_key()])
        assert front.accepted >= 3  # two reset, then served
    assert manifest.bundle_id == "fleetflash-2026q4"
    assert served.statuses and set(served.statuses) == {206}


def test_a_server_that_keeps_resetting_is_a_fetch_error_after_a_few_attempts(
    sample_bundle: Path, http_bundle_server
) -> None:
    served = http_bundle_server(sample_bundle.parent)
    upstream = ("127.0.0.1", int(served.base_url.rsplit(":", 1)[1]))
    attempts = len(CONNECT_RETRY_PAUSES_S) + 1
    with ResettingFront(upstream, resets=1000).running() as front:
        with pytest.raises(FetchError, match=rf"connection failed \({attempts} attempts\)"):
            open_bundle(front.url(sample_bundle.name))
        assert front.accepted == attempts  # gave up: no endless reconnecting
    assert served.requests == []


def test_an_untrusted_certificate_is_not_tried_again(sample_bundle: Path) -> None:
    # A server whose certificate the reader does not trust: a TLS failure, said at once
    # (a connection failure of its own kind in requests, but nothing a retry mends).
    app = Flask("untrusted-https")

    @app.get("/<name>")
    def image(name: str) -> Response:
        return send_from_directory(sample_bundle.parent, name, conditional=True)

    tls = make_self_signed("untrusted")
    try:
        with serving(app, tls.context) as base_url:
            upstream = ("127.0.0.1", int(base_url.rsplit(":", 1)[1]))
            with ResettingFront(upstream, resets=0).running() as front:
                url = front.url(sample_bundle.name).replace("http://", "https://")
                with pytest.raises(FetchError, match="TLS failed"):
                    open_bundle(url)
                assert front.accepted == 1
    finally:
        tls.cleanup()


def test_truncated_iso_over_http(bundle_factory, http_bundle_server) -> None:
    path = bundle_factory(truncate_to=45_000)
    served = http_bundle_server(path.parent)
    with pytest.raises(BundleFormatError, match="is truncated: the image declares"):
        open_bundle(served.url(path.name))


def test_unsupported_url_scheme() -> None:
    with pytest.raises(FetchError, match="unsupported URL scheme 'ftp'"):
        open_bundle("ftp://127.0.0.1/bundle.iso")


def test_remote_payload_bytes_equal_local_ones(
    sample_bundle: Path, http_bundle_server
) -> None:
    served = http_bundle_server(sample_bundle.parent)
    with open_bundle(served.url(sample_bundle.name)) as remote:
        pkg = remote.manifest.package("bmc-r-2.10.3")  # 6 MiB, one ranged request
        data = remote.read_payload(pkg)
    with open_bundle(sample_bundle) as local:
        assert data == local.read_payload(pkg)
    assert hashlib.sha256(data).hexdigest() == pkg.sha256


def test_bundle_replaced_on_server_while_open(bundle_factory, http_bundle_server) -> None:
    path = bundle_factory()
    served = http_bundle_server(path.parent)
    with open_bundle(served.url(path.name)) as remote:
        pkg = remote.manifest.packages[0]
        with path.open("ab") as handle:  # the publisher swaps in a different image
            handle.write(b"\0" * 4096)
        with pytest.raises(FetchError, match="changed size while being read"):
            remote.read_payload(pkg)
