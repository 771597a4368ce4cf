"""The sample bundle's UEFI boot image: an EFI System Partition holding a tiny
x86-64 EFI application that prints a marker on COM1, then halts.

The counterpart of ``serial_marker.py`` for UEFI firmware (docs/bundle-format.md,
"Bootable bundles"). Built without any toolchain, every byte from a structure
defined here:

- the application is a PE32+ image (Microsoft PE/COFF specification: DOS stub
  header, COFF file header, PE32+ optional header with 16 data directories, one
  ``.text`` section), subsystem 10 (EFI application), position-independent code;
- the partition is a FAT12 volume (Microsoft FAT specification) holding
  ``/EFI/BOOT/BOOTX64.EFI``, the removable-media boot path UEFI firmware runs
  (UEFI 2.x section 3.5.1.1).

The checked-in ``efi-marker-esp.img`` must equal ``build()`` (a unit test holds
them together). Regenerate with ``python -m firmware_payloads.samples.boot.efi_marker``.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from firmware_payloads.samples.boot import regenerate

MARKER = b"fleetflash update CD: El Torito UEFI boot image running"
COM1 = 0x3F8
IMAGE_PATH = Path(__file__).with_name("efi-marker-esp.img")

_FILE_ALIGN = 0x200
_SECTION_ALIGN = 0x1000
_CODE_RVA = 0x1000


def _rel8(source_end: int, target: int) -> bytes:
    displacement = target - source_end
    assert -128 <= displacement <= 127, displacement
    return displacement.to_bytes(1, "little", signed=True)


def code_listing() -> list[tuple[bytes, str]]:
    """(bytes, assembly) of the 64-bit entry point; offsets from the section start.

    UEFI calls the entry point in long mode, ring 0, interrupts on, DF clear
    (UEFI 2.x section 2.3.4), so the I/O instructions work and lodsb counts up.
    The firmware has already set the UART up for its own serial console.
    """
    # lea(7) | next: lodsb(1) test(2) jz(2) mov ah,al(2) mov dx(4)
    loop_start = 7
    wait = loop_start + 1 + 2 + 2 + 2 + 4
    # wait: in(1) test(2) jz(2) mov al,ah(2) mov dx(4) out(1) jmp(2)
    done = wait + 1 + 2 + 2 + 2 + 4 + 1 + 2
    message = done + 1 + 1 + 2  # done: cli(1) hlt(1) jmp(2)
    return [
        (b"\x48\x8d\x35" + struct.pack("<i", message - 7), "lea rsi, [rip + msg]"),
        (b"\xac", "next: lodsb     ; al = [rsi++]"),
        (b"\x84\xc0", "test al, al     ; end of string?"),
        (b"\x74" + _rel8(loop_start + 5, done), "jz done"),
        (b"\x88\xc4", "mov ah, al      ; keep the character"),
        (b"\x66\xba" + struct.pack("<H", COM1 + 5), "mov dx, 3FDh    ; LSR"),
        (b"\xec", "wait: in al, dx"),
        (b"\xa8\x20", "test al, 20h    ; transmit holding register empty?"),
        (b"\x74" + _rel8(wait + 5, wait), "jz wait"),
        (b"\x88\xe0", "mov al, ah"),
        (b"\x66\xba" + struct.pack("<H", COM1), "mov dx, 3F8h    ; THR"),
        (b"\xee", "out dx, al"),
        (b"\xeb" + _rel8(done, loop_start), "jmp next"),
        (b"\xfa", "done: cli"),
        (b"\xf4", "halt: hlt"),
        (b"\xeb" + _rel8(message, message - 3), "jmp halt"),
        (MARKER + b"\r\n\x00", "msg: db MARKER, CR, LF, 0"),
    ]


def build_efi_application() -> bytes:
    """BOOTX64.EFI: headers in the first 0x200 bytes, the code section in the next."""
    code = b"".join(chunk for chunk, _ in code_listing())
    assert len(code) <= _FILE_ALIGN
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)  # e_lfanew: the PE header follows at once
    coff = struct.pack(
        "<HHIIIHH",
        0x8664,  # Machine: x86-64
        1,  # NumberOfSections
        0, 0, 0,  # TimeDateStamp, PointerToSymbolTable, NumberOfSymbols
        240,  # SizeOfOptionalHeader: PE32+ with 16 data directories
        0x0022,  # EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE (relocatable: the code is PIC)
    )
    optional = struct.pack(
        "<HBBIIIII",
        0x20B,  # Magic: PE32+
        0, 0,  # linker version
        _FILE_ALIGN,  # SizeOfCode
        0, 0,  # SizeOfInitializedData, SizeOfUninitializedData
        _CODE_RVA,  # AddressOfEntryPoint
        _CODE_RVA,  # BaseOfCode
    ) + struct.pack(
        "<QIIHHHHHHIIIIHHQQQQII",
        0,  # ImageBase: the firmware loads it anywhere
        _SECTION_ALIGN, _FILE_ALIGN,
        0, 0, 0, 0, 0, 0,  # OS, image and subsystem versions
        0,  # Win32VersionValue
        _CODE_RVA + _SECTION_ALIGN,  # SizeOfImage: headers page + one code page
        _FILE_ALIGN,  # SizeOfHeaders
        0,  # CheckSum (not checked for EFI images)
        10,  # Subsystem: EFI application
        0,  # DllCharacteristics
        0, 0, 0, 0,  # stack and heap reserve/commit (unused by UEFI)
        0,  # LoaderFlags
        16,  # NumberOfRvaAndSizes; all 16 directories empty (no imports, no relocations)
    ) + bytes(16 * 8)
    section = struct.pack(
        "<8sIIIIIIHHI",
        b".text", len(code), _CODE_RVA, _FILE_ALIGN, _FILE_ALIGN,
        0, 0, 0, 0,  # no relocations or line numbers
        0x60000020,  # CNT_CODE | MEM_EXECUTE | MEM_READ
    )
    headers = dos + b"PE\0\0" + coff + optional + section
    assert len(headers) <= _FILE_ALIGN
    return bytes(headers.ljust(_FILE_ALIGN, b"\0")) + code.ljust(_FILE_ALIGN, b"\0")


# FAT12 volume: 32 sectors of 512 bytes, one sector per cluster.
_SECTOR = 512
_TOTAL_SECTORS = 32
_ROOT_ENTRIES = 16  # one sector
_DATA_START = 4  # boot sector, FAT 1, FAT 2, root directory
_DATE = ((2026 - 1980) << 9) | (1 << 5) | 1  # 2026-01-01, FAT date format


def _dir_entry(name: bytes, attributes: int, cluster: int, size: int = 0) -> bytes:
    return struct.pack("<11sBBBHHHHHHHI", name, attributes, 0, 0, 0, _DATE, _DATE, 0, 0,
                       _DATE, cluster, size)


def _fat12(entries: dict[int, int]) -> bytes:
    """One FAT sector; ``entries`` maps cluster -> next cluster (0xFFF ends a chain)."""
    fat = bytearray(_SECTOR)
    for cluster, value in {0: 0xFF8, 1: 0xFFF, **entries}.items():
        offset = cluster * 3 // 2  # 12-bit entries, two per three bytes
        if cluster % 2 == 0:
            fat[offset] = value & 0xFF
            fat[offset + 1] = (fat[offset + 1] & 0xF0) | (value >> 8)
        else:
            fat[offset] = (fat[offset] & 0x0F) | ((value & 0x0F) << 4)
            fat[offset + 1] = value >> 4
    return bytes(fat)


def build() -> bytes:
    """The ESP image: FAT12 with /EFI/BOOT/BOOTX64.EFI (clusters 2: EFI, 3: BOOT, 4-5: app)."""
    app = build_efi_application()
    app_clusters = len(app) // _SECTOR
    boot = bytearray(_SECTOR)
    boot[0:3] = b"\xeb\x3c\x90"  # jmp over the BPB; nop
    boot[3:11] = b"FLEETFF "
    struct.pack_into(
        "<HBHBHHBHHHII", boot, 11,
        _SECTOR, 1, 1, 2, _ROOT_ENTRIES, _TOTAL_SECTORS,
        0xF8,  # media: fixed disk
        1,  # sectors per FAT
        32, 2, 0, 0,  # geometry, hidden sectors, 32-bit total (unused)
    )
    struct.pack_into("<BBBI11s8s", boot, 36, 0x80, 0, 0x29, 0x2026EF1A, b"FLEETFF ESP",
                     b"FAT12   ")
    boot[510:512] = b"\x55\xaa"
    chain = {2: 0xFFF, 3: 0xFFF}
    for index in range(app_clusters):
        cluster = 4 + index
        chain[cluster] = 0xFFF if index == app_clusters - 1 else cluster + 1
    fat = _fat12(chain)
    root = _dir_entry(b"FLEETFF ESP", 0x08, 0) + _dir_entry(b"EFI        ", 0x10, 2)
    efi_dir = (_dir_entry(b".          ", 0x10, 2) + _dir_entry(b"..         ", 0x10, 0)
               + _dir_entry(b"BOOT       ", 0x10, 3))
    boot_dir = (_dir_entry(b".          ", 0x10, 3) + _dir_entry(b"..         ", 0x10, 2)
                + _dir_entry(b"BOOTX64 EFI", 0x20, 4, len(app)))
    image = bytearray(_TOTAL_SECTORS * _SECTOR)
    for sector, data in ((0, boot), (1, fat), (2, fat), (3, root),
                         (_DATA_START, efi_dir), (_DATA_START + 1, boot_dir),
                         (_DATA_START + 2, app)):
        image[sector * _SECTOR : sector * _SECTOR + len(data)] = data
    return bytes(image)


def main() -> int:
    return regenerate(code_listing(), _CODE_RVA, IMAGE_PATH, build())


if __name__ == "__main__":
    sys.exit(main())
