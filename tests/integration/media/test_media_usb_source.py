"""USB key -> verified, published bundle, through the emulated pyusb backend, and every fault."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import usb.core
from click.testing import CliRunner

from emulator.usbkey import EmulatedKey, EmulatedUsbBackend, KeyFaults
from firmware_payloads import load_private_key
from gateway.media.config import load_gateway_config
from gateway.media.errors import MediaConfigError
from gateway.media.usb import (
    UsbBundle,
    UsbKeySource,
    UsbKeyWatcher,
    backend_from_environment,
)
from gateway.media.usb.cli import usb as usb_cli
from gateway.media.usb.service import build_usb_watcher
from tests.conftest import BundleFactory, TestKeys
from tests.integration.media.usbkey_images import make_fat_key, make_iso_key
from tests.support.waiting import wait_until


class Published(list[UsbBundle]):
    """The publish callable: records what the gateway would have been told."""

    def __call__(self, bundle: UsbBundle) -> None:
        self.append(bundle)


@pytest.fixture()
def bundle(bundle_factory: BundleFactory) -> Path:
    return bundle_factory()


@pytest.fixture()
def published() -> Published:
    return Published()


@pytest.fixture()
def source(tmp_path: Path, test_keys: TestKeys, published: Published) -> UsbKeySource:
    return UsbKeySource("usb-key", [test_keys.public_key()], tmp_path / "staging", published)


def _device(image: Path, faults: str = "") -> usb.core.Device:
    backend = EmulatedUsbBackend([EmulatedKey(str(image), KeyFaults.parse(faults))])
    devices = list(usb.core.find(find_all=True, backend=backend))
    assert len(devices) == 1
    return devices[0]


def _staged_files(source: UsbKeySource) -> list[str]:
    staging = source._staging  # noqa: SLF001 - the test checks nothing is left behind
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


@pytest.mark.parametrize("layout", ["iso-key", "fat-superfloppy", "fat-mbr-partition", "fat32"])
@pytest.mark.parametrize("faults", ["", "stall-once", "short-once", "stall-once,short-once"])
def test_media_usb_key_to_published_verified_bundle(tmp_path: Path, bundle: Path,
                                                    source: UsbKeySource, published: Published,
                                                    layout: str, faults: str) -> None:
    image = tmp_path / "key.img"
    if layout == "iso-key":
        make_iso_key(image, bundle)
    else:
        offset = 1 << 20 if layout == "fat-mbr-partition" else 0
        make_fat_key(image, {"README.TXT": b"update key", "Quarterly-2026Q4.iso":
                             bundle.read_bytes()}, partition_offset=offset,
                     fat32=layout == "fat32")
    report = source.import_key(_device(image, faults))
    assert report.error is None and report.rejected == []
    assert len(published) == 1
    item = published[0]
    expected = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert (item.source, item.sha256, item.size) == ("usb-key", expected, bundle.stat().st_size)
    assert item.manifest.bundle_id == "test-bundle"
    assert hashlib.sha256(item.path.read_bytes()).hexdigest() == expected
    assert item.key.startswith("1209:0001 ")
    assert _staged_files(source) == [f"{expected}.iso"]


# (fault, words the operator sees)
FAULTS = [
    ("stall-always", "READ(10) at block"),
    ("short-always", "keeps returning short reads"),
    ("remove-after:100000", "removed while it was being read"),  # bundle is ~100 KB
    ("eject-after:100000", "reports no medium"),
    ("not-mass-storage", "is not a mass-storage key"),
]


@pytest.mark.parametrize(("faults", "message"), FAULTS, ids=[f[0] for f in FAULTS])
def test_media_usb_faults_give_a_clear_message_and_publish_nothing(
        tmp_path: Path, bundle: Path, source: UsbKeySource, published: Published,
        faults: str, message: str) -> None:
    image = make_iso_key(tmp_path / "key.img", bundle)
    report = source.import_key(_device(image, faults))
    assert report.error is not None and message in report.error
    assert "\n" not in report.error and "Traceback" not in report.error
    assert published == [] and report.published == []
    assert _staged_files(source) == []


@pytest.mark.parametrize(("limit", "arrived", "cut_off"), [
    # At 60,000 bytes the ISO probe's first read (64 KiB from byte 32768) is under way;
    # at 100,000 the probe is done and the copy of the whole 100 KiB key is.
    (60_000, 0, "a 65536-byte read at byte 32768 of the key was cut off"),
    (100_000, 65_536, "a 102400-byte read at byte 0 of the key was cut off"),
])
def test_media_usb_removal_message_counts_the_bytes_read(
        tmp_path: Path, bundle: Path, source: UsbKeySource, limit: int, arrived: int,
        cut_off: str) -> None:
    image = make_iso_key(tmp_path / "key.img", bundle)
    report = source.import_key(_device(image, f"remove-after:{limit}"))
    assert report.error is not None
    assert f"removed while it was being read (after {arrived} bytes had arrived" in report.error
    assert cut_off in report.error


def test_media_usb_removal_during_fat_copy_publishes_nothing(
        tmp_path: Path, bundle_factory: BundleFactory, source: UsbKeySource,
        published: Published) -> None:
    first, second = bundle_factory(name="a.iso"), bundle_factory(name="b.iso")
    image = make_fat_key(tmp_path / "key.img", {"A.ISO": first.read_bytes(),
                                                "B.ISO": second.read_bytes()})
    # Enough bytes to list the key and copy the first bundle, not the second.
    limit = 256 * 1024 + first.stat().st_size + 4096
    report = source.import_key(_device(image, f"remove-after:{limit}"))
    assert report.error is not None and "removed" in report.error
    assert published == [] and _staged_files(source) == []


def test_media_usb_bundle_signed_by_an_untrusted_key_is_refused(
        tmp_path: Path, bundle_factory: BundleFactory, test_keys: TestKeys,
        source: UsbKeySource, published: Published) -> None:
    good = bundle_factory(name="good.iso")
    forged = bundle_factory(name="forged.iso", key=load_private_key(test_keys.other_private))
    image = make_fat_key(tmp_path / "key.img", {"GOOD.ISO": good.read_bytes(),
                                                "FORGED.ISO": forged.read_bytes()})
    report = source.import_key(_device(image))
    assert len(report.rejected) == 1 and "/FORGED.ISO" in report.rejected[0]
    assert [p.name for p in published] == ["/GOOD.ISO"]
    assert len(_staged_files(source)) == 1


def test_media_usb_bundle_with_a_tampered_payload_is_refused(
        tmp_path: Path, bundle_factory: BundleFactory, source: UsbKeySource,
        published: Published) -> None:
    tampered = bundle_factory(payload_overrides={"nic-7.1": b"\x00" * 3000})
    report = source.import_key(_device(make_iso_key(tmp_path / "key.img", tampered)))
    assert len(report.rejected) == 1 and "refused" in report.rejected[0]
    assert published == [] and _staged_files(source) == []


def _corrupt_fat_table(image: Path) -> Path:
    data = bytearray(image.read_bytes())
    reserved = int.from_bytes(data[14:16], "little")
    fat_bytes = int.from_bytes(data[22:24], "little") * 512
    start = reserved * 512
    data[start + 4: start + fat_bytes] = b"\x00" * (fat_bytes - 4)  # every chain now "free"
    image.write_bytes(bytes(data))
    return image


@pytest.mark.parametrize(("make", "message"), [
    ("random", "neither an ISO 9660 image nor a FAT filesystem"),
    ("fat-without-iso", "holds no .iso files"),
    ("corrupt-fat", "corrupt"),
    ("corrupt-iso-header", "corrupt volume descriptor"),
])
def test_media_usb_keys_without_a_usable_bundle(tmp_path: Path, bundle: Path,
                                                source: UsbKeySource, published: Published,
                                                make: str, message: str) -> None:
    image = tmp_path / "key.img"
    if make == "random":
        image.write_bytes(hashlib.sha512(b"x").digest() * 8192)
    elif make == "fat-without-iso":
        make_fat_key(image, {"README.TXT": b"nothing here"})
    elif make == "corrupt-fat":
        _corrupt_fat_table(make_fat_key(image, {"Q4.ISO": bundle.read_bytes()}))
    else:
        make_iso_key(image, bundle)
        with image.open("r+b") as stream:
            stream.seek(16 * 2048 + 128)
            stream.write(b"\x07\x00")  # logical block size 7
    report = source.import_key(_device(image))
    assert report.error is not None and message in report.error
    assert published == [] and _staged_files(source) == []


def test_media_usb_watcher_imports_each_plugged_key_once(tmp_path: Path, bundle: Path,
                                                        source: UsbKeySource,
                                                        published: Published) -> None:
    backend = EmulatedUsbBackend()
    watcher = UsbKeyWatcher(source, backend, interval_s=0.05)
    assert watcher.poll_once() == []
    key = backend.plug(EmulatedKey(str(make_iso_key(tmp_path / "k.img", bundle))))
    hid = backend.plug(EmulatedKey(str(tmp_path / "k.img"), KeyFaults(not_mass_storage=True)))
    reports = watcher.poll_once()
    assert len(reports) == 2 and len(published) == 1
    assert any(r.error and "not a USB mass-storage key" in r.error for r in reports)
    assert watcher.poll_once() == []  # still plugged: not imported again
    backend.unplug(key)
    backend.unplug(hid)
    assert watcher.poll_once() == []
    backend.plug(EmulatedKey(str(tmp_path / "k.img")))
    assert [r.error for r in watcher.poll_once()] == [None]
    assert len(published) == 2


def test_media_usb_scan_cli_with_the_emulated_backend_from_the_environment(
        tmp_path: Path, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fat = make_fat_key(tmp_path / "fat.img", {"Quarterly-2026Q4.iso": bundle.read_bytes()})
    iso = make_iso_key(tmp_path / "iso.img", bundle)
    monkeypatch.setenv("FLEETFLASH_USB_BACKEND", "emulator.usbkey:backend_from_env")
    monkeypatch.setenv("FLEETFLASH_EMULATED_KEYS", f"{fat};{iso};{iso}#not-mass-storage")
    assert backend_from_environment() is not None
    result = CliRunner().invoke(usb_cli, ["scan"])
    assert result.exit_code == 0, result.output
    assert "bundle /Quarterly-2026Q4.iso" in result.output
    assert "bundle (whole key)" in result.output
    assert "not a mass-storage key; ignored" in result.output


@pytest.mark.parametrize(("value", "message"), [
    ("nonsense", "MODULE:FACTORY"),
    ("no.such.module:factory", "cannot be used"),
    ("os:getcwd", "did not return a pyusb backend"),
])
def test_media_usb_bad_backend_setting_is_a_clear_error(value: str, message: str) -> None:
    result = CliRunner().invoke(usb_cli, ["scan"], env={"FLEETFLASH_USB_BACKEND": value})
    assert result.exit_code == 1 and message in result.output


def test_media_usb_watcher_thread_picks_up_a_key(tmp_path: Path, bundle: Path,
                                                 source: UsbKeySource,
                                                 published: Published) -> None:
    backend = EmulatedUsbBackend()
    seen: list[object] = []
    watcher = UsbKeyWatcher(source, backend, interval_s=0.02, on_report=seen.append)
    watcher.start()
    try:
        backend.plug(EmulatedKey(str(make_iso_key(tmp_path / "k.img", bundle))))
        wait_until(lambda: seen, 30, describe="the watcher never saw the key")
    finally:
        watcher.stop()
    assert len(published) == 1


@pytest.mark.parametrize(("spec", "message"), [
    ("stall-sometimes", "unknown USB key fault"),
    ("remove-after:soon", "unknown USB key fault"),
])
def test_media_emulated_key_fault_specs_are_checked(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeyFaults.parse(spec)


def test_media_emulated_key_image_must_exist(tmp_path: Path) -> None:
    from emulator.usbkey import backend_from_env

    with pytest.raises(ValueError, match="does not exist"):
        backend_from_env({"FLEETFLASH_EMULATED_KEYS": str(tmp_path / "missing.img")})


def _gateway_toml(tmp_path: Path, usb_section: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\nstate_dir = "state"\n{usb_section}\n', encoding="utf-8")
    return path


def test_media_usb_watcher_from_config_publishes_under_the_configured_source(
        tmp_path: Path, bundle: Path, test_keys: TestKeys) -> None:
    config = load_gateway_config(_gateway_toml(tmp_path, f"""
[usb]
source = "site-usb"
trusted_keys = ["{test_keys.public}"]
poll_interval_s = 0.5
"""))
    backend = EmulatedUsbBackend([EmulatedKey(str(make_iso_key(tmp_path / "k.img", bundle)))])
    got = Published()
    watcher = build_usb_watcher(config, got, backend=backend)
    assert [r.error for r in watcher.poll_once()] == [None]
    assert [b.source for b in got] == ["site-usb"]
    assert got[0].path.parent == tmp_path / "state" / "usb-staging"


@pytest.mark.parametrize(("section", "message"), [
    ("", "no [usb] section"),
    ('[usb]\nsource = "x"\ntrusted_keys = ["missing.pub"]', "cannot read trusted key"),
    ('[usb]\nsource = "x"\ntrusted_keys = []', "non-empty list"),
    ('[usb]\nsource = "x y"\ntrusted_keys = ["a.pub"]', "usb.source"),
    ('[usb]\nsource = "x"\ntrusted_keys = ["a.pub"]\ncolour = 1',
     "usb: unknown key 'colour' (known: poll_interval_s, "),
])
def test_media_usb_config_errors_name_the_problem(tmp_path: Path, section: str,
                                                  message: str) -> None:
    # The section's shape is checked when the file loads, its key files when used.
    with pytest.raises(MediaConfigError, match=re.escape(message)):
        config = load_gateway_config(_gateway_toml(tmp_path, section))
        build_usb_watcher(config, Published(), backend=EmulatedUsbBackend())
