"""The local-bundle entry point never trusts the staging directory: whatever sits there is
hashed and verified again before anything reaches the cache or the alert record."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.usbkey import EmulatedUsbBackend
from firmware_payloads import load_private_key
from gateway.intake.local_bundle import LocalBundle, LocalBundleIntake
from gateway.service import Gateway
from gateway.store import Decision, ImageState
from tests.conftest import BundleFactory, TestKeys
from tests.integration.intake.gatewaykit import free_port, running_gateway, write_config
from tests.integration.usb_intake.usbkit import usb_section
from tests.support.waiting import wait_until

DEVICE = "1209:0001 STAGINGTEST"


@pytest.fixture
def gateway(tmp_path: Path, test_keys: TestKeys, usb_bus: EmulatedUsbBackend
            ) -> Iterator[Gateway]:
    config = write_config(tmp_path, prefixes=[f"http://127.0.0.1:{free_port()}/"],
                          trusted_key=test_keys.public,
                          extra=usb_section(test_keys.public, tmp_path / "staging"))
    with running_gateway(config) as running:
        yield running


def _local(gateway: Gateway) -> LocalBundleIntake:
    assert gateway.usb is not None
    return gateway.usb.local


def _staged(tmp_path: Path, source: Path, name: str = "staged.iso") -> Path:
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    return Path(shutil.copyfile(source, staging / name))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_usb_staged_copy_changed_after_verification_is_refused(
        tmp_path: Path, gateway: Gateway, bundle_factory: BundleFactory) -> None:
    bundle = bundle_factory(name="fleet.iso")
    sha = _sha256(bundle)
    staged = _staged(tmp_path, bundle)
    with staged.open("r+b") as handle:  # a byte of a payload flipped in the staging dir
        handle.seek(staged.stat().st_size - 4000)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    outcome = _local(gateway).accept(LocalBundle(staged, sha, DEVICE, "/fleet.iso"))
    assert outcome.decision == Decision.REJECTED
    assert f"does not hash to {sha}" in outcome.reason and DEVICE in outcome.reason
    assert gateway.cache.verified_path(sha) is None and gateway.cache.usage_bytes() == 0
    assert gateway.store.list_images() == [] and not staged.exists()
    assert gateway.store.list_alerts(1)[0].channel == "usb"


def test_usb_staged_bundle_signed_by_untrusted_key_is_refused(
        tmp_path: Path, gateway: Gateway, bundle_factory: BundleFactory,
        test_keys: TestKeys) -> None:
    forged = bundle_factory(name="forged.iso", key=load_private_key(test_keys.other_private))
    staged = _staged(tmp_path, forged)
    sha = _sha256(forged)
    outcome = _local(gateway).accept(LocalBundle(staged, sha, DEVICE, "/forged.iso"))
    assert outcome.decision == Decision.REJECTED
    assert "trusted keys of source 'usb-key'" in outcome.reason
    assert gateway.cache.verified_path(sha) is None and gateway.cache.usage_bytes() == 0
    assert gateway.store.list_images() == []


def test_usb_staged_bundle_with_malformed_digest_is_refused(
        tmp_path: Path, gateway: Gateway, bundle_factory: BundleFactory) -> None:
    staged = _staged(tmp_path, bundle_factory(name="fleet.iso"))
    outcome = _local(gateway).accept(LocalBundle(staged, "../../etc/passwd", DEVICE, "/x.iso"))
    assert outcome.decision == Decision.REJECTED and "sha256" in outcome.reason
    assert gateway.cache.usage_bytes() == 0 and not staged.exists()


def test_usb_key_restores_an_evicted_verified_image(
        tmp_path: Path, gateway: Gateway, bundle_factory: BundleFactory) -> None:
    bundle = bundle_factory(name="fleet.iso")
    sha = _sha256(bundle)
    first = _local(gateway).accept(LocalBundle(_staged(tmp_path, bundle), sha, DEVICE, "/a"))
    assert first.decision == Decision.ACCEPTED
    wait_until(lambda: gateway.store.get_image(sha).state is ImageState.VERIFIED)
    assert gateway.cache.remove(sha)  # evicted to make room for something else
    again = _local(gateway).accept(LocalBundle(_staged(tmp_path, bundle), sha,
                                               "1209:0001 OTHERKEY", "/a"))
    assert again.decision == Decision.DUPLICATE and "already known (verified)" in again.reason
    restored = gateway.cache.verified_path(sha)
    assert restored is not None and restored.read_bytes() == bundle.read_bytes()
    assert gateway.store.get_image(sha).state is ImageState.VERIFIED
