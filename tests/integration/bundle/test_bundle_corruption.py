"""Fuzzing the image metadata: any corruption yields a BundleError, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_payloads import (
    BundleError,
    BundleSpec,
    build_bundle,
    load_private_key,
    load_public_key,
    open_bundle,
    verify_bundle,
)

KEYS = Path(__file__).resolve().parents[2] / "keys"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = BundleSpec.from_dict({
        "bundle_id": "fuzz", "release": "r", "publisher": "p",
        "packages": [
            {"id": "bmc", "component": "BMC", "version": "1.0", "models": ["M"],
             "reset": "bmc", "path": "payloads/bmc.bin", "size": 5000},
            {"id": "bios", "component": "BIOS", "version": "2.0", "models": ["M"],
             "requires": ["bmc"], "reset": "host", "path": "payloads/deep/bios.bin",
             "size": 7000},
        ],
    })
    out = tmp_path_factory.mktemp("fuzz") / "pristine.iso"
    build_bundle(spec, load_private_key(KEYS / "TEST-ONLY-bundle-signing.key"), out)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corrupt_metadata_is_a_bundle_error(
    pristine: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    image = bytearray(pristine.read_bytes())
    # Corrupt bytes among the volume descriptors, path tables, directory
    # records, manifest and signature: everything before the first payload.
    metadata_end = 44 * 2048
    for _ in range(data.draw(st.integers(1, 8))):
        offset = data.draw(st.integers(16 * 2048, metadata_end - 1))
        image[offset] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("corrupt") / "corrupt.iso"
    path.write_bytes(bytes(image))
    trusted = [load_public_key(KEYS / "TEST-ONLY-bundle-signing.pub")]
    try:
        with open_bundle(path) as reader:
            verify_bundle(reader, trusted)
    except BundleError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        # Accepted only when nothing that matters changed: the verified content is intact.
        with open_bundle(path) as reader:
            for pkg in reader.manifest.packages:
                assert len(reader.read_payload(pkg)) == pkg.size
