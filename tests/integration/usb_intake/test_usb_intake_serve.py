"""`fleetflash gateway serve` with [usb] and the emulated keys selected by environment:
keys plugged at boot end as verified images and usb alerts in `fleetflash alerts list`."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from firmware_payloads import load_private_key
from gateway.config import load_config
from gateway.store import Decision, GatewayStore, ImageState
from tests.conftest import BundleFactory, TestKeys
from tests.integration.intake.gatewaykit import free_port, write_config
from tests.integration.usb_intake.conftest import key_image, usb_alerts
from tests.integration.usb_intake.usbkit import usb_section
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]


def _fleetflash(*args: str, env: dict[str, str] | None = None,
                **popen: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "lab.cli", *args], cwd=REPO_ROOT,
                            env=env, **popen)  # type: ignore[call-overload]


def test_usb_gateway_serve_imports_keys_plugged_at_boot(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    first = bundle_factory(name="first.iso")
    spec = BundleFactory.default_spec()
    spec["release"] = "second"
    second = bundle_factory(spec, name="second.iso")
    forged = bundle_factory(name="forged.iso", key=load_private_key(test_keys.other_private))
    digests = {hashlib.sha256(b.read_bytes()).hexdigest() for b in (first, second)}
    keys = [
        str(key_image(tmp_path, first, "iso-key", name="first")),
        str(key_image(tmp_path, second, "fat-key", name="second")),
        str(key_image(tmp_path, forged, "fat-key", name="forged")),
        f"{key_image(tmp_path, first, 'iso-key', name='pulled')}#remove-after:60000",
    ]
    config = write_config(tmp_path, prefixes=[f"http://127.0.0.1:{free_port()}/"],
                          trusted_key=test_keys.public,
                          extra=usb_section(test_keys.public, tmp_path / "staging"))
    env = {**os.environ, "FLEETFLASH_USB_BACKEND": "emulator.usbkey:backend_from_env",
           "FLEETFLASH_EMULATED_KEYS": ";".join(keys)}
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        server = _fleetflash("gateway", "serve", "--config", str(config), env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: b"running; state in" in log_path.read_bytes()
                   or server.poll() is not None, 60, describe=log_path.read_text)
        assert server.poll() is None, log_path.read_text()
        store = GatewayStore.open(load_config(config).database_url)
        try:
            wait_until(lambda: len(usb_alerts(store)) == 4 and all(
                i.state is ImageState.VERIFIED for i in store.list_images()),
                60, describe=log_path.read_text)
            images = store.list_images()
            alerts = usb_alerts(store)
        finally:
            store.close()
        assert {i.sha256 for i in images} == digests
        cache_dir = tmp_path / "state" / "images"
        assert {p.name for p in cache_dir.glob("*.iso")} == {f"{d}.iso" for d in digests}
        decisions = sorted(a.decision for a in alerts)
        assert decisions == sorted([Decision.ACCEPTED, Decision.ACCEPTED, Decision.REJECTED,
                                    Decision.REJECTED])
        reasons = " ".join(a.reason for a in alerts if a.decision == Decision.REJECTED)
        assert "signature" in reasons and "removed while it was being read" in reasons

        listing = subprocess.run(
            [sys.executable, "-m", "lab.cli", "alerts", "list", "--config", str(config)],
            cwd=REPO_ROOT, capture_output=True, check=False)
        assert listing.returncode == 0, listing.stderr.decode()
        flat = "".join(listing.stdout.decode().split())
        assert flat.count("usb:1209:0001") >= 4 and flat.count("usb-key") == 4
        assert flat.count("accepted") == 2 and flat.count("rejected") == 2
        assert "Traceback" not in log_path.read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0, log_path.read_text()
