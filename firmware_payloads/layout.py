"""Where things live inside a bundle image; shared by the builder and the reader.

ISO 9660 names are restricted (upper case, short), so the image carries three
directory trees over the same file data:

- ISO 9660: ``/FLEETFLASH/MANIFEST.JSON;1``, ``/FLEETFLASH/MANIFEST.SIG;1``, and
  payloads as generated names (``P0001.BIN;1``) inside directories named after
  the manifest path;
- Rock Ridge and Joliet: ``/fleetflash/manifest.json``, ``/fleetflash/manifest.sig``
  and every payload at exactly its manifest ``path``.

The reader looks files up by Rock Ridge name, so a manifest path is what a
user sees when the image is mounted on Linux.

A bootable bundle also carries its El Torito boot images and the boot catalog
under ``/fleetflash/boot/`` (``/FLEETFLASH/BOOT/`` in ISO 9660), at fixed names,
so the manifest only records their size and sha256.
"""

from __future__ import annotations

ISO_BLOCK = 2048
# ISO 9660 volume descriptors start at logical sector 16.
VOLUME_DESCRIPTORS_OFFSET = 16 * ISO_BLOCK

META_DIR_ISO = "/FLEETFLASH"
META_DIR_RR = "fleetflash"
MANIFEST_ISO = "/FLEETFLASH/MANIFEST.JSON;1"
MANIFEST_RR = "/fleetflash/manifest.json"
MANIFEST_JOLIET = "/fleetflash/manifest.json"
SIGNATURE_ISO = "/FLEETFLASH/MANIFEST.SIG;1"
SIGNATURE_RR = "/fleetflash/manifest.sig"
SIGNATURE_JOLIET = "/fleetflash/manifest.sig"
SIGNATURE_BYTES = 64
BOOT_DIR_ISO = "/FLEETFLASH/BOOT"
BOOT_DIR_RR = "fleetflash/boot"
BOOT_CATALOG_ISO = "/FLEETFLASH/BOOT/BOOT.CAT;1"
BOOT_CATALOG_RR = "/fleetflash/boot/boot.cat"
# Boot platform (the manifest's key) -> (ISO 9660 name, Rock Ridge/Joliet name).
BOOT_IMAGES = {
    "bios": ("/FLEETFLASH/BOOT/BIOS.IMG;1", "/fleetflash/boot/bios.img"),
    "efi": ("/FLEETFLASH/BOOT/EFI.IMG;1", "/fleetflash/boot/efi.img"),
}
# El Torito platform ids (El Torito 1.0 section 2.1; 0xEF added by UEFI 2.x 13.3.2).
BOOT_PLATFORM_IDS = {"bios": 0x00, "efi": 0xEF}
VOLUME_ID = "FLEETFLASH"
ISO_INTERCHANGE_LEVEL = 3
ROCK_RIDGE_VERSION = "1.09"
JOLIET_LEVEL = 3


def is_reserved_path(manifest_path: str) -> bool:
    """True when a payload path would collide with the bundle's own metadata directory."""
    return manifest_path.split("/", 1)[0].lower() == META_DIR_RR
