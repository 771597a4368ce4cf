"""An empty FAT12 volume image, the shape of a (tiny) EFI System Partition image.

Laid out per the Microsoft FAT specification ("Boot Sector and BPB"): one
reserved sector holding the BPB, two FATs, a one-sector root directory, then
data clusters. Used where tests need a real ESP-shaped file, not arbitrary bytes.
"""

from __future__ import annotations

import struct

SECTOR = 512


def empty_fat12(total_sectors: int = 128, label: bytes = b"EFISYSTEM  ") -> bytes:
    """A freshly formatted FAT12 volume of ``total_sectors`` 512-byte sectors."""
    boot = bytearray(SECTOR)
    boot[0:3] = b"\xeb\x3c\x90"  # jmp short over the BPB; nop
    boot[3:11] = b"FLEETFF "  # OEM name
    struct.pack_into(
        "<HBHBHHBHHHII", boot, 11,
        SECTOR,  # bytes per sector
        1,  # sectors per cluster
        1,  # reserved sectors (this boot sector)
        2,  # number of FATs
        16,  # root directory entries (one sector)
        total_sectors,  # total sectors (16-bit field)
        0xF8,  # media descriptor: fixed disk
        1,  # sectors per FAT (128 clusters x 1.5 bytes fits in one)
        32, 2,  # sectors per track, heads (geometry, unused)
        0, 0,  # hidden sectors, 32-bit total sectors (unused)
    )
    struct.pack_into("<BBBI11s8s", boot, 36, 0x80, 0, 0x29, 0x2026F1A5, label, b"FAT12   ")
    boot[510:512] = b"\x55\xaa"
    fat = bytearray(SECTOR)
    fat[0:3] = b"\xf8\xff\xff"  # entries 0 and 1: media byte, end-of-chain
    image = bytearray(total_sectors * SECTOR)
    image[0:SECTOR] = boot
    image[SECTOR : 2 * SECTOR] = fat
    image[2 * SECTOR : 3 * SECTOR] = fat
    return bytes(image)
