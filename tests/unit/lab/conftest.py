"""Fixtures for the lab tests: building bundles from specs without validating them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_payloads import SCHEMA_VERSION, BundleSpec
from firmware_payloads.build import ImageFile, measure, write_image
from firmware_payloads.manifest import canonical_json

BROKEN_BUNDLES = Path(__file__).resolve().parent / "broken_bundles"


def build_unchecked(spec_path: Path, key: Ed25519PrivateKey, out: Path) -> Path:
    """Build and sign `spec_path` WITHOUT manifest validation, like a buggy vendor tool.

    `fleetflash bundle build` refuses missing dependencies, cycles and
    duplicate component/model claims; the harness must still catch images
    that were made some other way.
    """
    spec = BundleSpec.from_yaml(spec_path)
    packages = []
    for pkg in spec.packages:
        size, sha256 = measure(pkg.source)
        packages.append({"id": pkg.id, "component": pkg.component, "version": pkg.version,
                         "models": list(pkg.models), "min_from_version": pkg.min_from_version,
                         "requires": list(pkg.requires), "reset": pkg.reset, "path": pkg.path,
                         "size": size, "sha256": sha256})
    document = {"schema_version": SCHEMA_VERSION, "bundle_id": spec.bundle_id,
                "release": spec.release, "publisher": spec.publisher, "packages": packages}
    manifest_bytes = canonical_json(document)
    write_image(out, manifest_bytes, key.sign(manifest_bytes),
                [ImageFile(pkg.path, pkg.source) for pkg in spec.packages])
    return out


@pytest.fixture
def broken_bundle(tmp_path: Path) -> Callable[[str, Ed25519PrivateKey], Path]:
    """broken_bundle("wrong-model", key) -> path of that spec built into an ISO."""
    def build(name: str, key: Ed25519PrivateKey) -> Path:
        return build_unchecked(BROKEN_BUNDLES / f"{name}.yaml", key, tmp_path / f"{name}.iso")
    return build
