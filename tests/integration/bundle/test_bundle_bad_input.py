"""Every bad input of docs/bundle-format.md ("Verification rules", "Limits") at library
level, on real images built by the factory."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pycdlib
import pytest

from firmware_payloads import (
    BundleFormatError,
    HashMismatchError,
    ManifestTooLargeError,
    SignatureError,
    UnknownSchemaError,
    UnsafePathError,
    layout,
    load_public_key,
    open_bundle,
    verify_bundle,
    verify_manifest,
)


def verify(path: Path, test_keys: Any) -> None:
    with open_bundle(path) as reader:
        verify_bundle(reader, [test_keys.public_key()])


def test_good_bundle_verifies(bundle_factory, test_keys) -> None:
    with open_bundle(bundle_factory()) as reader:
        manifest = verify_bundle(reader, [test_keys.public_key()])
    assert [p.id for p in manifest.packages] == ["bmc-2.0.0", "bios-1.5.0", "nic-7.1"]


@pytest.mark.parametrize("keep", [20_000, 34_000, 60_000])
def test_truncated_iso(bundle_factory, test_keys, keep: int) -> None:
    path = bundle_factory(truncate_to=keep)
    with pytest.raises(BundleFormatError, match="is truncated"):
        verify(path, test_keys)


def test_truncated_iso_inside_last_payload(bundle_factory, test_keys) -> None:
    full = bundle_factory(name="full.iso").stat().st_size
    path = bundle_factory(truncate_to=full - 4096)
    with pytest.raises(BundleFormatError, match="is truncated"):
        verify(path, test_keys)


def test_not_an_iso(tmp_path: Path, test_keys) -> None:
    path = tmp_path / "random.iso"
    path.write_bytes(b"\x00" * 40_000 + b"x" * 40_000)
    with pytest.raises(BundleFormatError, match="is not an ISO 9660 image"):
        verify(path, test_keys)


def test_manifest_tampered_after_signing(bundle_factory, test_keys) -> None:
    path = bundle_factory(tamper_manifest=lambda data: data.replace(b'"2.0.0"', b'"9.0.0"'))
    with pytest.raises(SignatureError, match="modified after signing"):
        verify(path, test_keys)


def test_wrong_key(bundle_factory, test_keys) -> None:
    path = bundle_factory()
    with open_bundle(path) as reader, pytest.raises(SignatureError, match="any trusted key"):
        verify_bundle(reader, [load_public_key(test_keys.other_public)])


def test_no_trusted_keys_is_refused(bundle_factory) -> None:
    with open_bundle(bundle_factory()) as reader, pytest.raises(SignatureError, match="no trusted"):
        verify_bundle(reader, [])


def test_payload_hash_mismatch(bundle_factory, test_keys) -> None:
    path = bundle_factory(payload_overrides={"bios-1.5.0": b"\x00" * 9_000})
    with pytest.raises(HashMismatchError, match=r"'bios-1.5.0' \(payloads/bios-1.5.0.bin\) has"):
        verify(path, test_keys)


def test_payload_size_mismatch(bundle_factory, test_keys) -> None:
    path = bundle_factory(payload_overrides={"nic-7.1": b"short"})
    with pytest.raises(HashMismatchError, match="is 5 bytes, manifest says 3000"):
        verify(path, test_keys)


def package_at(index: int, payload_path: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A manifest hook giving package `index` the path `payload_path` (the factory signs
    the manifest afterwards, so only the path is wrong)."""
    def hook(doc: dict[str, Any]) -> dict[str, Any]:
        doc["packages"][index]["path"] = payload_path
        return doc

    return hook


def test_signed_traversal_path(bundle_factory, test_keys) -> None:
    path = bundle_factory(manifest_hook=package_at(0, "../../etc/passwd"))
    with pytest.raises(UnsafePathError, match="escapes the bundle"):
        verify(path, test_keys)


def test_signed_unknown_schema_version(bundle_factory, test_keys) -> None:
    def future(doc: dict[str, Any]) -> dict[str, Any]:
        doc["schema_version"] = 99
        return doc

    with pytest.raises(UnknownSchemaError, match="schema_version 99"):
        verify(bundle_factory(manifest_hook=future), test_keys)


def test_oversized_manifest_refused_without_reading_it(bundle_factory, test_keys) -> None:
    def pad(doc: dict[str, Any]) -> dict[str, Any]:
        doc["publisher"] = "x" * (1024 * 1024)
        return doc

    path = bundle_factory(manifest_hook=pad)
    with pytest.raises(ManifestTooLargeError, match="over the 1048576 byte limit"):
        open_bundle(path)


def test_oversized_manifest_bytes_refused_by_verify_manifest(test_keys) -> None:
    key = test_keys.private_key()
    data = json.dumps({"pad": "x" * (1024 * 1024)}).encode()
    with pytest.raises(ManifestTooLargeError):
        verify_manifest(data, key.sign(data), [test_keys.public_key()])


def test_payload_that_is_a_symlink_out_of_the_image(tmp_path: Path, test_keys) -> None:
    """A Rock Ridge symlink at a payload path ("a link out") is refused, not followed."""
    manifest = json.dumps({
        "schema_version": 1, "bundle_id": "b", "release": "r", "publisher": "p",
        "packages": [{"id": "bmc", "component": "BMC", "version": "1", "models": ["M"],
                      "min_from_version": None, "requires": [], "reset": "bmc",
                      "path": "payloads/bmc.bin", "size": 0, "sha256": "0" * 64}],
    }).encode()
    signature = test_keys.private_key().sign(manifest)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09", joliet=3)
    iso.add_directory("/FLEETFLASH", rr_name="fleetflash", joliet_path="/fleetflash")
    iso.add_fp(io.BytesIO(manifest), len(manifest), layout.MANIFEST_ISO,
               rr_name="manifest.json", joliet_path=layout.MANIFEST_JOLIET)
    iso.add_fp(io.BytesIO(signature), 64, layout.SIGNATURE_ISO,
               rr_name="manifest.sig", joliet_path=layout.SIGNATURE_JOLIET)
    iso.add_directory("/PAYLOADS", rr_name="payloads", joliet_path="/payloads")
    iso.add_symlink("/PAYLOADS/BMC.BIN;1", rr_symlink_name="bmc.bin", rr_path="/etc/shadow")
    path = tmp_path / "symlink.iso"
    iso.write(str(path))
    iso.close()
    with pytest.raises(UnsafePathError, match="is a symbolic link"):
        verify(path, test_keys)


def test_image_without_manifest(tmp_path: Path, test_keys) -> None:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09")
    iso.add_fp(io.BytesIO(b"hello"), 5, "/README.TXT;1", rr_name="readme.txt")
    path = tmp_path / "plain.iso"
    iso.write(str(path))
    iso.close()
    with pytest.raises(BundleFormatError, match="no manifest at /fleetflash/manifest.json"):
        verify(path, test_keys)


def test_manifest_lists_a_payload_missing_from_the_image(bundle_factory, test_keys) -> None:
    with pytest.raises(BundleFormatError,
                       match="has no payload of package 'nic-7.1' at /payloads/ghost.bin"):
        verify(bundle_factory(manifest_hook=package_at(2, "payloads/ghost.bin")), test_keys)
