"""Verification: the manifest signature against trusted keys, then every payload.

Order matters: the size limit is checked before anything else, the signature
before the manifest is parsed, and payload hashes only against a manifest
whose signature verified. A bootable image's El Torito catalog must point at
exactly the boot images the signed manifest lists, so firmware booting the CD
only ever runs signed bytes; a catalog on an image whose manifest lists none is
refused for the same reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware_payloads import layout
from firmware_payloads.boot import BootImage
from firmware_payloads.errors import (
    BootCatalogError,
    HashMismatchError,
    ManifestTooLargeError,
    SignatureError,
)
from firmware_payloads.keys import key_id
from firmware_payloads.manifest import MAX_MANIFEST_BYTES, Manifest, Package
from firmware_payloads.reader import BundleReader


def verify_manifest(
    manifest_bytes: bytes, signature: bytes, trusted_keys: Iterable[Ed25519PublicKey]
) -> Manifest:
    """Check ``signature`` over the exact ``manifest_bytes``, then parse them.

    Raises ManifestTooLargeError, SignatureError (no trusted keys, or none of
    them verifies: wrong key or manifest changed after signing), then the
    ManifestError family for a signed-but-invalid manifest.
    """
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise ManifestTooLargeError(
            f"manifest is {len(manifest_bytes)} bytes, over the {MAX_MANIFEST_BYTES} byte limit"
        )
    find_signing_key(manifest_bytes, signature, trusted_keys)
    return Manifest.from_json(manifest_bytes)


def find_signing_key(
    manifest_bytes: bytes, signature: bytes, trusted_keys: Iterable[Ed25519PublicKey]
) -> Ed25519PublicKey:
    """The first trusted key whose signature check passes; SignatureError if none."""
    keys = list(trusted_keys)
    if not keys:
        raise SignatureError("no trusted keys given; refusing to accept an unverified manifest")
    for key in keys:
        try:
            key.verify(signature, manifest_bytes)
        except InvalidSignature:
            continue
        return key
    fingerprints = ", ".join(key_id(key) for key in keys)
    raise SignatureError(
        "manifest signature does not verify with any trusted key "
        f"({fingerprints}): wrong key or manifest modified after signing"
    )


def verify_payload(reader: BundleReader, pkg: Package) -> None:
    """Stream ``pkg``'s payload and compare size and sha256 with the manifest.

    Raises HashMismatchError (plus the reader's BundleFormatError/FetchError).
    """
    digest = hashlib.sha256()
    size = 0
    for chunk in reader.iter_payload(pkg):
        digest.update(chunk)
        size += len(chunk)
    if size != pkg.size:
        raise HashMismatchError(
            f"payload of package {pkg.id!r} ({pkg.path}) is {size} bytes, manifest says {pkg.size}"
        )
    actual = digest.hexdigest()
    if actual != pkg.sha256:
        raise HashMismatchError(
            f"payload of package {pkg.id!r} ({pkg.path}) has sha256 {actual[:16]}..., "
            f"manifest says {pkg.sha256[:16]}..."
        )


def verify_boot_catalog(reader: BundleReader, manifest: Manifest) -> None:
    """Check that the boot catalog has one entry per signed boot image, each loading
    exactly that image's sectors, and nothing else. Raises BootCatalogError."""
    entries = list(reader.boot_entries())
    label = reader.source
    if not manifest.boot:
        if entries:
            raise BootCatalogError(
                f"{label} has an El Torito boot catalog but its signed manifest lists no boot "
                "images: the boot code is not covered by the signature"
            )
        return
    for image in manifest.boot:
        platform_id = layout.BOOT_PLATFORM_IDS[image.platform]
        block, length = reader.boot_image_extent(image)
        matching = [e for e in entries if e.platform_id == platform_id and e.load_rba == block]
        if len(matching) != 1 or not matching[0].bootable or length != image.size or \
                matching[0].sector_count * 512 != image.size:
            raise BootCatalogError(
                f"{label}: the boot catalog has no bootable {image.platform} entry loading "
                f"exactly the signed {image.platform} boot image ({image.size} bytes)"
            )
        entries.remove(matching[0])
    if entries:
        raise BootCatalogError(
            f"{label}: the boot catalog has {len(entries)} more entry(ies) that load no "
            "signed boot image"
        )


def verify_boot_image(reader: BundleReader, image: BootImage) -> None:
    """Stream a boot image and compare size and sha256 with the manifest."""
    digest = hashlib.sha256()
    size = 0
    for chunk in reader.iter_boot_image(image):
        digest.update(chunk)
        size += len(chunk)
    if size != image.size or digest.hexdigest() != image.sha256:
        raise HashMismatchError(
            f"{image.platform} boot image ({layout.BOOT_IMAGES[image.platform][1]}) does not "
            f"match the manifest: {size} bytes sha256 {digest.hexdigest()[:16]}..., manifest "
            f"says {image.size} bytes sha256 {image.sha256[:16]}..."
        )


def verify_bundle(
    reader: BundleReader,
    trusted_keys: Iterable[Ed25519PublicKey],
    *,
    check_payloads: bool = True,
) -> Manifest:
    """Verify the signature, the boot catalog, and (unless ``check_payloads`` is False)
    every boot image and payload.

    Returns the verified manifest; raises the first problem found.
    """
    manifest = verify_manifest(reader.manifest_bytes, reader.signature, trusted_keys)
    verify_boot_catalog(reader, manifest)
    if check_payloads:
        for image in manifest.boot:
            verify_boot_image(reader, image)
        for pkg in manifest.packages:
            verify_payload(reader, pkg)
    return manifest
