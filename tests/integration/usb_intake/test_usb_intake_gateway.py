"""A key plugged into a running gateway (build_gateway, the real composition root):
key image -> verified image in the cache + a usb-channel alert, and every refusal."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from emulator.usbkey import EmulatedKey
from firmware_payloads import load_private_key
from gateway.config import load_config
from gateway.service import GatewayStartError, build_gateway
from gateway.store import Decision, GatewayStore, ImageState, NotFoundError
from lab.cli import main
from tests.conftest import BundleFactory, TestKeys
from tests.integration.intake.gatewaykit import free_port, running_gateway, write_config
from tests.integration.usb_intake.conftest import Plugger, key_image, staged_files, usb_alerts
from tests.integration.usb_intake.usbkit import USB_SOURCE, usb_section
from tests.support.waiting import wait_until


def _config(tmp_path: Path, test_keys: TestKeys, *, prefixes: list[str] | None = None,
            cache_max: str = "1GiB") -> Path:
    return write_config(tmp_path, prefixes=prefixes or [f"http://127.0.0.1:{free_port()}/"],
                        trusted_key=test_keys.public, cache_max=cache_max,
                        extra=usb_section(test_keys.public, tmp_path / "staging"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("layout", ["iso-key", "fat-key"])
def test_usb_key_becomes_verified_cached_image_and_usb_alert(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory, plugger: Plugger,
        layout: str) -> None:
    bundle = bundle_factory(name="fleet-usb.iso")
    sha = _sha256(bundle)
    config = _config(tmp_path, test_keys)
    with running_gateway(config) as gateway:
        assert gateway.usb is not None
        key = plugger.plug(key_image(tmp_path, bundle, layout))
        wait_until(lambda: _state(gateway.store, sha) is ImageState.VERIFIED)
        cached = gateway.cache.verified_path(sha)
        assert cached is not None and cached.read_bytes() == bundle.read_bytes()
        image = gateway.store.get_image(sha)
        assert image.source == USB_SOURCE and image.bundle_id == "test-bundle"
        assert image.manifest_json is not None and "bmc-2.0.0" in image.manifest_json
        assert image.image_uri.startswith(f"usb:1209:0001/{key.serial}/")
        [alert] = usb_alerts(gateway.store)
        assert alert.decision == Decision.ACCEPTED and alert.message_id == "FWUP0001"
        assert alert.indication_identifier == f"usb:1209:0001 {key.serial}:{sha}"
        assert staged_files(tmp_path / "staging") == []
    listing = CliRunner().invoke(main, ["alerts", "list", "--config", str(config)])
    assert listing.exit_code == 0, listing.output
    flat = "".join(listing.output.split())  # rich folds long cells over several lines
    assert f"usb:1209:0001{key.serial}:" in flat and USB_SOURCE in flat and "accepted" in flat
    assert "channel" in listing.output and re.search(r"│ usb +│", listing.output), listing.output


def test_usb_same_key_twice_and_second_key_are_duplicates(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        plugger: Plugger) -> None:
    bundle = bundle_factory(name="fleet-usb.iso")
    sha = _sha256(bundle)
    image_path = key_image(tmp_path, bundle, "fat-key")
    with running_gateway(_config(tmp_path, test_keys)) as gateway:
        first = plugger.plug(image_path)
        wait_until(lambda: _state(gateway.store, sha) is ImageState.VERIFIED)
        plugger.bus.unplug(first)
        plugger.plug(image_path, key=EmulatedKey(str(image_path), serial=first.serial))
        wait_until(lambda: len(usb_alerts(gateway.store)) == 2)
        other_copy = key_image(tmp_path, bundle, "iso-key", name="other")
        plugger.plug(other_copy)
        wait_until(lambda: len(usb_alerts(gateway.store)) == 3)
        accepted, replug, other = usb_alerts(gateway.store)
        assert accepted.decision == Decision.ACCEPTED
        assert replug.decision == Decision.DUPLICATE and "already received" in replug.reason
        assert other.decision == Decision.DUPLICATE and "already known" in other.reason
        assert [i.sha256 for i in gateway.store.list_images()] == [sha]
        assert [c.sha256 for c in gateway.cache.list_images()] == [sha]
        assert staged_files(tmp_path / "staging") == []


def test_usb_bundle_signed_by_untrusted_key_is_rejected(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        plugger: Plugger) -> None:
    forged = bundle_factory(name="forged.iso", key=load_private_key(test_keys.other_private))
    with running_gateway(_config(tmp_path, test_keys)) as gateway:
        plugger.plug(key_image(tmp_path, forged, "fat-key"))
        wait_until(lambda: len(usb_alerts(gateway.store)) == 1)
        [alert] = usb_alerts(gateway.store)
        assert alert.decision == Decision.REJECTED
        assert "Fleet-Update-2026Q4.iso" in alert.reason and "refused" in alert.reason
        assert "trusted" in alert.reason.lower()
        assert gateway.cache.list_images() == [] and gateway.store.list_images() == []
        assert staged_files(tmp_path / "staging") == []


@pytest.mark.parametrize(("fault", "message"), [
    ("remove-after:60000", "removed while it was being read"),
    ("eject-after:60000", "reports no medium"),
])
def test_usb_key_pulled_out_mid_read_publishes_nothing(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory, plugger: Plugger,
        fault: str, message: str) -> None:
    bundle = bundle_factory(name="fleet-usb.iso")
    with running_gateway(_config(tmp_path, test_keys)) as gateway:
        plugger.plug(key_image(tmp_path, bundle, "iso-key"), fault)
        wait_until(lambda: len(usb_alerts(gateway.store)) == 1)
        [alert] = usb_alerts(gateway.store)
        assert alert.decision == Decision.REJECTED
        assert message in alert.reason and "nothing published" in alert.reason
        assert "Traceback" not in alert.reason
        assert gateway.cache.list_images() == [] and gateway.store.list_images() == []
        assert staged_files(tmp_path / "staging") == []


def test_usb_key_with_withdrawn_image_is_rejected_and_not_cached(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        plugger: Plugger, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.media.usb.source")
    bundle = bundle_factory(name="fleet-usb.iso")
    sha = _sha256(bundle)
    closed = f"http://127.0.0.1:{free_port()}/"  # nothing listens: the download never lands
    with running_gateway(_config(tmp_path, test_keys, prefixes=[closed])) as gateway:
        announced = gateway.intake.raise_alert(source="acme", image_uri=closed + "fleet.iso",
                                               image_sha256=sha, bundle_id="test-bundle",
                                               release="test")
        assert announced.decision == Decision.ACCEPTED
        withdrawn = gateway.intake.withdraw_image(source="acme", bundle_id="test-bundle",
                                                  image_sha256=sha)
        assert withdrawn.decision == Decision.WITHDRAWN
        plugger.plug(key_image(tmp_path, bundle, "iso-key"))
        wait_until(lambda: len(usb_alerts(gateway.store)) == 1)
        [alert] = usb_alerts(gateway.store)
        assert alert.decision == Decision.REJECTED and "withdrawn" in alert.reason
        # The USB source's log tells the intake's decision, not a bare "published".
        wait_until(lambda: "handed over: rejected" in caplog.text, describe=lambda: caplog.text)
        assert "withdrawn" in caplog.text and "published bundle" not in caplog.text
        assert gateway.cache.verified_path(sha) is None
        assert gateway.store.get_image(sha).state is ImageState.WITHDRAWN


def test_usb_key_that_does_not_fit_the_cache_is_rejected(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        plugger: Plugger) -> None:
    bundle = bundle_factory(name="fleet-usb.iso")
    with running_gateway(_config(tmp_path, test_keys, cache_max="16KiB")) as gateway:
        plugger.plug(key_image(tmp_path, bundle, "iso-key"))
        wait_until(lambda: len(usb_alerts(gateway.store)) == 1)
        [alert] = usb_alerts(gateway.store)
        assert alert.decision == Decision.REJECTED and "cache limit" in alert.reason
        assert gateway.cache.list_images() == [] and gateway.store.list_images() == []


def test_usb_source_named_like_a_network_source_stops_the_gateway(
        tmp_path: Path, test_keys: TestKeys) -> None:
    config = write_config(tmp_path, prefixes=["http://127.0.0.1:9/"],
                          trusted_key=test_keys.public,
                          extra=usb_section(test_keys.public, tmp_path / "staging")
                          .replace(f'"{USB_SOURCE}"', '"acme"'))
    with pytest.raises(GatewayStartError, match=r"usb.source 'acme' is also the name"):
        build_gateway(load_config(config))


def test_usb_section_with_missing_key_file_is_a_clear_start_error(
        tmp_path: Path, test_keys: TestKeys) -> None:
    config = write_config(tmp_path, prefixes=["http://127.0.0.1:9/"],
                          trusted_key=test_keys.public,
                          extra=usb_section(tmp_path / "missing.pub", tmp_path / "staging"))
    result = CliRunner().invoke(main, ["gateway", "serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "usb" in result.output and "missing.pub" in result.output
    assert "Traceback" not in result.output


def _state(store: GatewayStore, sha: str) -> ImageState | None:
    try:
        return store.get_image(sha).state
    except NotFoundError:
        return None


def test_usb_backend_that_cannot_be_used_is_a_clear_start_error(
        tmp_path: Path, test_keys: TestKeys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETFLASH_USB_BACKEND", "emulator.usbkey:no_such_factory")
    config = _config(tmp_path, test_keys)
    with pytest.raises(GatewayStartError, match=r"^usb: FLEETFLASH_USB_BACKEND=.*cannot be used"):
        build_gateway(load_config(config))
