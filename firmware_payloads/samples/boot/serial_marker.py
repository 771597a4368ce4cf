"""The sample bundle's BIOS boot image: print a marker on COM1, then halt.

It proves the bootable-CD path end to end (docs/bundle-format.md, "Bootable
bundles"): a BIOS that boots the bundle from its El Torito catalog runs this
code, and the marker appears on the machine's first serial port. A real update
CD would carry a boot loader here instead.

The bytes are hand-assembled below, one instruction per line with its
mnemonic, so the image can be reviewed without an assembler; the checked-in
``serial-marker.bin`` must equal ``build()`` (a unit test holds them together).
Regenerate with ``python -m firmware_payloads.samples.boot.serial_marker``.

Machine state on entry (El Torito 1.0, no-emulation boot): 16-bit real mode,
the image loaded at linear 0x7C00 (as CS:IP 0000:7C00 or 07C0:0000, so the code
first far-jumps to a known CS), DL = boot drive. Encodings are from the Intel
SDM vol. 2; the UART registers are the 16550's (COM1 at I/O port 0x3F8).
"""

from __future__ import annotations

import sys
from pathlib import Path

from firmware_payloads.samples.boot import regenerate

MARKER = b"fleetflash update CD: El Torito BIOS boot image running"
IMAGE_BYTES = 2048  # one CD sector; El Torito loads it as four 512-byte sectors
LOAD_ADDRESS = 0x7C00
COM1 = 0x3F8
BIN_PATH = Path(__file__).with_name("serial-marker.bin")


def _le16(value: int) -> bytes:
    return value.to_bytes(2, "little")


def _rel8(source_end: int, target: int) -> bytes:
    """A short jump's displacement: from the end of the jump instruction to the target."""
    displacement = target - source_end
    assert -128 <= displacement <= 127, displacement
    return displacement.to_bytes(1, "little", signed=True)


def listing() -> list[tuple[bytes, str]]:
    """(bytes, assembly) per instruction, in order; offsets are from the image start."""
    # UART setup: 115200 baud (divisor 1), 8 data bits, no parity, 1 stop bit, FIFO on.
    uart_setup = [
        (COM1 + 1, 0x00, "IER: no interrupts"),
        (COM1 + 3, 0x80, "LCR: DLAB=1, divisor latch follows"),
        (COM1 + 0, 0x01, "DLL: divisor 1 = 115200 baud"),
        (COM1 + 1, 0x00, "DLM: divisor high byte 0"),
        (COM1 + 3, 0x03, "LCR: 8N1, DLAB=0"),
        (COM1 + 2, 0xC7, "FCR: enable and clear FIFOs"),
        (COM1 + 4, 0x03, "MCR: DTR and RTS"),
    ]
    code: list[tuple[bytes, str]] = [
        (b"\xfa", "cli"),
        (b"\xea" + _le16(LOAD_ADDRESS + 6) + _le16(0), "jmp 0000:7C06   ; known CS:IP"),
        (b"\x31\xc0", "xor ax, ax"),
        (b"\x8e\xd8", "mov ds, ax"),
        (b"\x8e\xd0", "mov ss, ax"),
        (b"\xbc" + _le16(LOAD_ADDRESS), "mov sp, 7C00h   ; stack below the image"),
        (b"\xfc", "cld             ; lodsb counts up"),
    ]
    for port, value, why in uart_setup:
        code += [
            (b"\xba" + _le16(port), f"mov dx, {port:03X}h"),
            (b"\xb0" + bytes([value]), f"mov al, {value:02X}h   ; {why}"),
            (b"\xee", "out dx, al"),
        ]
    # The print loop, laid out with fixed instruction sizes so the jumps can be
    # computed before the message address is known.
    loop_start = sum(len(b) for b, _ in code) + 3  # after `mov si, msg`
    # next:  lodsb(1) test(2) jz(2) mov ah,al(2) mov dx(3)
    wait = loop_start + 1 + 2 + 2 + 2 + 3
    # wait:  in(1) test(2) jz(2) mov al,ah(2) mov dx(3) out(1) jmp(2)
    done = wait + 1 + 2 + 2 + 2 + 3 + 1 + 2
    # done:  cli(1) hlt(1) jmp(2)
    message = done + 1 + 1 + 2
    code += [
        (b"\xbe" + _le16(LOAD_ADDRESS + message), "mov si, msg"),
        (b"\xac", "next: lodsb     ; al = [si++]"),
        (b"\x84\xc0", "test al, al     ; end of string?"),
        (b"\x74" + _rel8(loop_start + 5, done), "jz done"),
        (b"\x88\xc4", "mov ah, al      ; keep the character"),
        (b"\xba" + _le16(COM1 + 5), "mov dx, 3FDh    ; LSR"),
        (b"\xec", "wait: in al, dx"),
        (b"\xa8\x20", "test al, 20h    ; transmit holding register empty?"),
        (b"\x74" + _rel8(wait + 5, wait), "jz wait"),
        (b"\x88\xe0", "mov al, ah"),
        (b"\xba" + _le16(COM1), "mov dx, 3F8h    ; THR"),
        (b"\xee", "out dx, al"),
        (b"\xeb" + _rel8(done, loop_start), "jmp next"),
        (b"\xfa", "done: cli"),
        (b"\xf4", "halt: hlt"),
        (b"\xeb" + _rel8(message, message - 3), "jmp halt        ; an NMI would resume here"),
        (MARKER + b"\r\n\x00", "msg: db MARKER, CR, LF, 0"),
    ]
    return code


def build() -> bytes:
    """The boot image: the code, zero-padded to IMAGE_BYTES, boot signature at 510."""
    code = b"".join(chunk for chunk, _ in listing())
    assert len(code) <= 510, len(code)
    image = bytearray(IMAGE_BYTES)
    image[: len(code)] = code
    # Not required for no-emulation boot, but marks the first sector as boot code
    # for tools that look (and for BIOSes that wrongly check it).
    image[510:512] = b"\x55\xaa"
    return bytes(image)


def main() -> int:
    return regenerate(listing(), LOAD_ADDRESS, BIN_PATH, build())


if __name__ == "__main__":
    sys.exit(main())
