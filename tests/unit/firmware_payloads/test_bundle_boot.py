"""Bootable bundles: the El Torito boot catalog a spec's ``boot`` key adds, read back
with pycdlib, and the signature covering what firmware would run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pycdlib
import pytest

from firmware_payloads import (
    BootCatalogError,
    BundleSpec,
    HashMismatchError,
    ManifestError,
    build_bundle,
    open_bundle,
    verify_bundle,
)
from firmware_payloads.build import BootFile, ImageFile, manifest_from_spec, write_image
from firmware_payloads.samples.boot import efi_marker, serial_marker
from firmware_payloads.spec import BytesPayload
from tests.conftest import TestKeys, small_bundle_spec

BIOS_IMAGE = serial_marker.BIN_PATH
ESP_IMAGE = efi_marker.IMAGE_PATH


def _catalog(iso_path: Path) -> tuple[pycdlib.PyCdlib, Any]:
    iso = pycdlib.PyCdlib()
    iso.open(str(iso_path))
    return iso, iso.eltorito_boot_catalog


def _extent(iso: pycdlib.PyCdlib, rr_path: str) -> int:
    return int(iso.get_record(rr_path=rr_path).extent_location())


def _bootable_spec(tmp_path: Path, **boot: bytes) -> BundleSpec:
    spec = small_bundle_spec()
    spec["boot"] = {}
    for platform, data in boot.items():
        (tmp_path / f"{platform}.img").write_bytes(data)
        spec["boot"][platform] = f"{platform}.img"
    return BundleSpec.from_dict(spec, base_dir=tmp_path)


def test_checked_in_boot_sector_is_what_its_listing_builds() -> None:
    image = BIOS_IMAGE.read_bytes()
    assert image == serial_marker.build()
    assert len(image) == 2048 and image[510:512] == b"\x55\xaa"
    assert serial_marker.MARKER + b"\r\n\x00" in image[:510]


def test_checked_in_esp_image_is_what_its_builder_builds() -> None:
    image = ESP_IMAGE.read_bytes()
    assert image == efi_marker.build()
    assert image[510:512] == b"\x55\xaa" and image[54:62] == b"FAT12   "
    application = efi_marker.build_efi_application()
    assert application[:2] == b"MZ" and application[64:68] == b"PE\0\0"
    assert application in image  # /EFI/BOOT/BOOTX64.EFI's clusters are contiguous


def _read(path: Path, block: int, length: int) -> bytes:
    with path.open("rb") as image:
        image.seek(block * 2048)
        return image.read(length)


def test_sample_bundle_has_bios_and_uefi_catalog_entries(
        sample_bundle: Path, test_keys: TestKeys) -> None:
    esp = ESP_IMAGE.read_bytes()
    iso, catalog = _catalog(sample_bundle)
    try:
        assert catalog is not None, "the sample bundle has no El Torito boot catalog"
        assert catalog.validation_entry.platform_id == 0x00  # x86 BIOS
        entry = catalog.initial_entry
        assert entry.boot_indicator == 0x88  # bootable
        assert entry.boot_media_type == 0  # no emulation
        assert entry.sector_count == 4  # 2048 bytes as 512-byte sectors
        assert entry.load_rba == _extent(iso, "/fleetflash/boot/bios.img")
        (section,) = catalog.sections
        assert section.platform_id == 0xEF  # UEFI
        (efi_entry,) = section.section_entries
        assert efi_entry.boot_indicator == 0x88 and efi_entry.boot_media_type == 0
        assert efi_entry.sector_count == len(esp) // 512
        assert efi_entry.load_rba == _extent(iso, "/fleetflash/boot/efi.img")
    finally:
        iso.close()
    assert _read(sample_bundle, entry.load_rba, 2048) == BIOS_IMAGE.read_bytes()
    assert _read(sample_bundle, efi_entry.load_rba, len(esp)) == esp
    with open_bundle(sample_bundle) as reader:
        manifest = verify_bundle(reader, [test_keys.public_key()])
    assert [(b.platform, b.size) for b in manifest.boot] == [("bios", 2048), ("efi", len(esp))]


def test_a_uefi_only_bundle_has_one_uefi_entry(tmp_path: Path, test_keys: TestKeys) -> None:
    out = tmp_path / "uefi.iso"
    build_bundle(_bootable_spec(tmp_path, efi=ESP_IMAGE.read_bytes()),
                 test_keys.private_key(), out)
    iso, catalog = _catalog(out)
    try:
        assert catalog.validation_entry.platform_id == 0xEF
        assert catalog.initial_entry.load_rba == _extent(iso, "/fleetflash/boot/efi.img")
        assert catalog.sections == []
    finally:
        iso.close()
    with open_bundle(out) as reader:
        verify_bundle(reader, [test_keys.public_key()])


def test_a_bundle_without_boot_key_is_unchanged(tmp_path: Path, test_keys: TestKeys) -> None:
    spec = BundleSpec.from_dict(small_bundle_spec(), base_dir=tmp_path)
    manifest_bytes = manifest_from_spec(spec).to_json()
    assert set(json.loads(manifest_bytes)) == {
        "schema_version", "bundle_id", "release", "publisher", "packages"}
    out = tmp_path / "plain.iso"
    build_bundle(spec, test_keys.private_key(), out)
    iso, catalog = _catalog(out)
    iso.close()
    assert catalog is None
    with open_bundle(out) as reader:
        assert reader.manifest_bytes == manifest_bytes  # same bytes, same signature as before
        assert verify_bundle(reader, [test_keys.public_key()]).boot == ()


def _patch(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as image:
        image.seek(offset)
        image.write(data)


def test_a_modified_boot_image_fails_verification(tmp_path: Path, test_keys: TestKeys) -> None:
    out = tmp_path / "boot.iso"
    build_bundle(_bootable_spec(tmp_path, bios=BIOS_IMAGE.read_bytes()),
                 test_keys.private_key(), out)
    iso, catalog = _catalog(out)
    rba = catalog.initial_entry.load_rba
    iso.close()
    _patch(out, rba * 2048 + 0x58, b"evil")  # inside the marker string
    with open_bundle(out) as reader, pytest.raises(HashMismatchError, match="bios boot image"):
        verify_bundle(reader, [test_keys.public_key()])


def test_a_catalog_pointing_elsewhere_fails_verification(
        tmp_path: Path, test_keys: TestKeys) -> None:
    out = tmp_path / "boot.iso"
    build_bundle(_bootable_spec(tmp_path, bios=BIOS_IMAGE.read_bytes()),
                 test_keys.private_key(), out)
    iso, _catalog_ = _catalog(out)
    catalog_block = _extent(iso, "/fleetflash/boot/boot.cat")
    payload_block = _extent(iso, "/payloads/nic-7.1.bin")
    iso.close()
    # The initial entry is the catalog's second 32-byte record; its load RBA is at +8.
    _patch(out, catalog_block * 2048 + 32 + 8, payload_block.to_bytes(4, "little"))
    with open_bundle(out) as reader, \
            pytest.raises(BootCatalogError, match="no bootable bios entry"):
        verify_bundle(reader, [test_keys.public_key()], check_payloads=False)


def test_a_boot_catalog_the_manifest_does_not_sign_is_refused(
        tmp_path: Path, test_keys: TestKeys) -> None:
    spec = BundleSpec.from_dict(small_bundle_spec(), base_dir=tmp_path)
    manifest_bytes = manifest_from_spec(spec).to_json()  # no 'boot' field
    out = tmp_path / "unsigned-boot.iso"
    write_image(out, manifest_bytes, test_keys.private_key().sign(manifest_bytes),
                [ImageFile(p.path, p.source) for p in spec.packages],
                [BootFile("bios", BytesPayload(BIOS_IMAGE.read_bytes()))])
    with open_bundle(out) as reader, \
            pytest.raises(BootCatalogError, match="not covered by the signature"):
        verify_bundle(reader, [test_keys.public_key()], check_payloads=False)


@pytest.mark.parametrize(("boot", "message"), [
    ({"bios": b"\x90" * 700}, "bios boot image is 700 bytes; it must be a non-zero multiple"),
    ({"bios": b""}, "bios boot image is 0 bytes"),
    ({"bios": b"\x90" * 33 * 1024}, "at most 32768"),
    ({"efi": b"\x00" * 4096}, "no 0x55AA signature"),
])
def test_unusable_boot_images_fail_the_build(
        tmp_path: Path, boot: dict[str, bytes], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        manifest_from_spec(_bootable_spec(tmp_path, **boot))


@pytest.mark.parametrize(("boot", "message"), [
    ({"floppy": "x.img"}, "unknown platform\\(s\\): floppy"),
    ({}, "must be a mapping like"),
    ({"bios": 7}, "'boot.bios' must be a file path"),
])
def test_malformed_boot_key_names_the_problem(boot: Any, message: str) -> None:
    spec = small_bundle_spec()
    spec["boot"] = boot
    with pytest.raises(ManifestError, match=message):
        BundleSpec.from_dict(spec)


def test_manifest_boot_field_is_validated() -> None:
    from firmware_payloads import Manifest

    document = json.loads(
        manifest_from_spec(BundleSpec.from_dict(small_bundle_spec())).to_json())
    document["boot"] = {"bios": {"size": 2048, "sha256": "0" * 63}}
    with pytest.raises(ManifestError, match="'sha256' must be 64 lowercase hex"):
        Manifest.from_dict(document)
    document["boot"] = {"arm": {"size": 2048, "sha256": "0" * 64}}
    with pytest.raises(ManifestError, match="unknown platform"):
        Manifest.from_dict(document)


def test_cli_says_the_bundle_is_bootable_and_refuses_an_unsigned_catalog(
        tmp_path: Path, test_keys: TestKeys) -> None:
    from click.testing import CliRunner

    from firmware_payloads.cli import bundle

    def run(*args: str | Path) -> Any:
        return CliRunner().invoke(bundle, [str(a) for a in args])

    spec = small_bundle_spec()
    spec["boot"] = {"bios": str(BIOS_IMAGE), "efi": str(ESP_IMAGE)}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(spec))  # JSON is YAML
    out = tmp_path / "cli.iso"
    built = run("build", spec_path, "--key", test_keys.private, "-o", out)
    assert built.exit_code == 0 and "bootable (bios, efi)" in built.output, built.output
    inspected = run("inspect", out)
    assert "bootable CD (El Torito): bios 2.0 KiB, efi 16.0 KiB" in inspected.output
    verified = run("verify", out, "--trusted-key", test_keys.public)
    assert verified.exit_code == 0, verified.output
    assert "boot catalog ok: its entries (bios, efi) load the signed boot images" in \
        verified.output
    assert "boot image ok: bios 2.0 KiB" in verified.output
    assert "boot image ok: efi 16.0 KiB" in verified.output

    plain = BundleSpec.from_dict(small_bundle_spec(), base_dir=tmp_path)
    manifest_bytes = manifest_from_spec(plain).to_json()
    unsigned = tmp_path / "unsigned-boot.iso"
    write_image(unsigned, manifest_bytes, test_keys.private_key().sign(manifest_bytes),
                [ImageFile(p.path, p.source) for p in plain.packages],
                [BootFile("bios", BytesPayload(BIOS_IMAGE.read_bytes()))])
    refused = run("verify", unsigned, "--trusted-key", test_keys.public)
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: {unsigned} has an El Torito boot catalog but its signed manifest lists no "
        "boot images: the boot code is not covered by the signature"]
