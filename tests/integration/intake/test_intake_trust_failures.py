"""The publisher -> listener flow, refused for each trust failure: nothing fetched, recorded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.publisher import PublishError, send_indication, update_available_indication
from gateway.service import Gateway
from gateway.store import Decision, ImageState
from gateway.store.refusals import RefusalCount, list_refusals
from tests.conftest import TestKeys
from tests.integration.intake.conftest import PublishedBundle, sha256_of
from tests.integration.intake.gatewaykit import (
    SOURCE_PASSWORD,
    SOURCE_USER,
    listener_url,
    running_gateway,
    write_config,
)
from tests.support.waiting import wait_until


def _announce(url: str, bundle: PublishedBundle, *, image_uri: str | None = None,
              sha256: str | None = None, user: str = SOURCE_USER,
              password: str = SOURCE_PASSWORD, owning_entity: str = "FLEETFLASH",
              identifier: str = "alert-1") -> None:
    send_indication(url, update_available_indication(
        image_uri=image_uri or bundle.url, image_sha256=sha256 or bundle.sha256,
        bundle_id="test-bundle", release="test", owning_entity=owning_entity,
        identifier=identifier), user=user, password=password)


REFUSED_AT_THE_DOOR = [
    ("wrong password", {"password": "not it"}, "HTTP 401", "wrong credentials"),
    ("unknown user", {"user": "mallory"}, "HTTP 401", "wrong credentials"),
    ("OwningEntity not allowed", {"owning_entity": "EVIL"}, "ACCESS_DENIED", "OwningEntity"),
    ("URI on a look-alike host", {"image_uri": "http://127.0.0.1.nip.io/x.iso"},
     "ACCESS_DENIED", "outside"),
    ("URI with userinfo", {"image_uri": "http://u@127.0.0.1/x.iso"}, "INVALID_PARAMETER",
     "user information"),
]


@pytest.mark.parametrize(("description", "overrides", "answer", "reason"), REFUSED_AT_THE_DOOR,
                         ids=[r[0] for r in REFUSED_AT_THE_DOOR])
def test_untrusted_alert_is_refused_recorded_and_fetches_nothing(
        tmp_path: Path, bundle_site: PublishedBundle, test_keys: TestKeys, description: str,
        overrides: dict[str, str], answer: str, reason: str) -> None:
    config = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                          trusted_key=test_keys.public)
    with running_gateway(config) as gateway:
        with pytest.raises(PublishError, match=answer):
            _announce(listener_url(gateway.config), bundle_site, **overrides)
        if answer.startswith("HTTP "):  # refused before authentication: counted, no alert
            assert gateway.store.count_alerts() == 0
            assert reason in _refusal(gateway, "unauthenticated").last_sample
        else:
            recorded = gateway.store.list_alerts(1)[0]
            assert recorded.decision == Decision.REJECTED and reason in recorded.reason
        assert gateway.store.list_images() == []
    assert gateway.cache.list_images() == []


def test_unknown_client_address_is_forbidden(tmp_path: Path, bundle_site: PublishedBundle,
                                             test_keys: TestKeys) -> None:
    config = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                          trusted_key=test_keys.public, clients=["10.0.0.0/8"])
    with running_gateway(config) as gateway:
        with pytest.raises(PublishError, match="HTTP 403"):
            _announce(listener_url(gateway.config), bundle_site)
        assert gateway.store.count_alerts() == 0
        assert "not in any configured source" in _refusal(gateway, "forbidden").last_sample
        assert gateway.store.list_images() == []


def _refusal(gateway: Gateway, reason: str) -> RefusalCount:
    """The one refusal row of the listener (written out first)."""
    gateway.listener.refusals.flush()
    rows, _ = list_refusals(gateway.store.engine, limit=10)
    assert [(r.channel, r.client_address, r.reason, r.count) for r in rows] == [
        ("cim", "127.0.0.1", reason, 1)]
    return rows[0]


def _image_outcome(tmp_path: Path, bundle_site: PublishedBundle, trusted_key: Path,
                   sha256: str | None = None) -> tuple[ImageState, str, list[object]]:
    config = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                          trusted_key=trusted_key)
    with running_gateway(config) as gateway:
        _announce(listener_url(gateway.config), bundle_site, sha256=sha256)
        digest = sha256 or bundle_site.sha256
        wait_until(lambda: gateway.store.get_image(digest).state not in (
            ImageState.PENDING, ImageState.DOWNLOADING))
        image = gateway.store.get_image(digest)
        return image.state, image.reason, list(gateway.cache.list_images())


def test_bad_signature_is_rejected_before_download(
        tmp_path: Path, bundle_site: PublishedBundle, test_keys: TestKeys) -> None:
    state, reason, cached = _image_outcome(tmp_path, bundle_site, test_keys.other_public)
    assert state == ImageState.REJECTED and "signature" in reason
    assert cached == []
    log = bundle_site.server.access_log
    assert log and all(r.range is not None for r in log)  # only ranged reads of the manifest
    assert all(r.status == 206 for r in log)


def test_digest_mismatch_is_rejected_and_nothing_visible(
        tmp_path: Path, bundle_site: PublishedBundle, test_keys: TestKeys) -> None:
    state, reason, cached = _image_outcome(tmp_path, bundle_site, test_keys.public,
                                           sha256="0" * 64)
    assert state == ImageState.REJECTED and "not the announced" in reason
    assert cached == []
    assert not list((tmp_path / "state" / "images" / ".partial").iterdir())


def test_tampered_payload_is_rejected(tmp_path: Path, bundle_factory: Callable[..., Path],
                                      test_keys: TestKeys) -> None:
    from emulator.publisher import BundleServer

    path = bundle_factory(name="tampered.iso", payload_overrides={"nic-7.1": b"\x00" * 3000})
    with BundleServer([path]) as server:
        site = PublishedBundle(path, server.url_for(path), sha256_of(path), server)
        state, reason, cached = _image_outcome(tmp_path, site, test_keys.public)
    assert state == ImageState.REJECTED and "nic-7.1" in reason
    assert cached == []
