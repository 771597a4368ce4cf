"""El Torito boot images of a bootable bundle: the manifest's ``boot`` field and its rules.

A bundle may carry one boot image per platform: ``bios`` (an x86 no-emulation
image the BIOS loads at 0000:7C00 and jumps to) and ``efi`` (an EFI System
Partition image, a FAT file system whose ``/EFI/BOOT/BOOTX64.EFI`` UEFI
firmware starts). Both are signed like payloads: the manifest records their size
and sha256, and the verifier checks the bytes and that the image's boot catalog
points at exactly these files (docs/bundle-format.md, "Bootable bundles").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from firmware_payloads.errors import ManifestError

BOOT_PLATFORMS = ("bios", "efi")
# A BIOS loads a no-emulation image whole into conventional memory below the
# EBDA; 32 KiB is far more than a first-stage loader needs and fits everywhere.
MAX_BIOS_IMAGE_BYTES = 32 * 1024
# The El Torito entry's sector count is 16 bits of 512-byte sectors.
MAX_EFI_IMAGE_BYTES = 0xFFFF * 512
_MAX_BYTES = {"bios": MAX_BIOS_IMAGE_BYTES, "efi": MAX_EFI_IMAGE_BYTES}
_SECTOR = 512
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BootImage:
    """One signed boot image: its platform (``bios``/``efi``), size in bytes, sha256."""

    platform: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256}


def boot_to_dict(images: tuple[BootImage, ...]) -> dict[str, Any]:
    """The manifest's ``boot`` object: platform -> {size, sha256}."""
    return {image.platform: image.to_dict() for image in images}


def refuse_unknown_platforms(platforms: Iterable[str], where: str,
                             show: Callable[[str], str]) -> None:
    """ManifestError naming the platforms of ``where`` outside BOOT_PLATFORMS, and the
    known ones (each written with ``show``: quoted in a manifest, bare in a spec)."""
    unknown = sorted(set(platforms) - set(BOOT_PLATFORMS))
    if unknown:
        raise ManifestError(
            f"{where} has unknown platform(s): {', '.join(map(show, unknown))} "
            f"(known: {', '.join(map(show, BOOT_PLATFORMS))})")


def parse_boot(raw: Any) -> tuple[BootImage, ...]:
    """Validate the manifest's ``boot`` object; images in BOOT_PLATFORMS order."""
    if not isinstance(raw, Mapping) or not raw:
        raise ManifestError("manifest field 'boot' must be an object naming 'bios' and/or 'efi'")
    refuse_unknown_platforms(raw, "manifest field 'boot'", repr)
    images = []
    for platform in BOOT_PLATFORMS:
        if platform not in raw:
            continue
        entry = raw[platform]
        where = f"manifest boot image {platform!r}"
        if not isinstance(entry, Mapping) or set(entry) != {"size", "sha256"}:
            raise ManifestError(f"{where} must be an object with exactly 'size' and 'sha256'")
        size, sha256 = entry["size"], entry["sha256"]
        if not isinstance(size, int) or isinstance(size, bool):
            raise ManifestError(f"{where} field 'size' must be an integer")
        check_boot_image_size(platform, size)
        if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
            raise ManifestError(f"{where} field 'sha256' must be 64 lowercase hex digits")
        images.append(BootImage(platform, size, sha256))
    return tuple(images)


def check_boot_image_size(platform: str, size: int) -> None:
    """A boot image is whole 512-byte sectors (El Torito counts them), within its limit."""
    limit = _MAX_BYTES[platform]
    if size <= 0 or size % _SECTOR or size > limit:
        raise ManifestError(
            f"{platform} boot image is {size} bytes; it must be a non-zero multiple of "
            f"{_SECTOR} bytes, at most {limit}"
        )


def check_boot_image_head(platform: str, head: bytes) -> None:
    """Cheap sanity check of an image's first sector, so a wrong file fails the build.

    An EFI System Partition image starts with a FAT boot sector, which ends in
    the 0x55 0xAA signature (Microsoft FAT specification, "Boot Sector and BPB").
    A BIOS no-emulation image is raw code with no required signature.
    """
    if platform == "efi" and head[510:512] != b"\x55\xaa":
        raise ManifestError(
            "efi boot image does not start with a FAT boot sector (no 0x55AA signature at "
            "byte 510); it must be an EFI System Partition image"
        )
