"""The sample bundle boots on real firmware: QEMU (TCG) with SeaBIOS and with OVMF
(UEFI) boots the ISO as a CD, and each boot image prints its marker on COM1.

QEMU runs directly, without libvirt (the BMC-driven boot is tests/e2e/test_lab_qemu.py).
Needs qemu-system-x86 and ovmf (scripts/bootstrap.sh); without them the tests skip,
or fail under FLEETFLASH_REQUIRE_QEMU=1 (as `make test` sets it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from firmware_payloads.samples.boot import efi_marker, serial_marker

OVMF = Path("/usr/share/ovmf/OVMF.fd")  # Debian's ovmf package
HANG_GUARD_S = 180.0


def _require(*paths: str | Path) -> None:
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        message = f"{', '.join(missing)} missing (scripts/bootstrap.sh installs it)"
        if os.environ.get("FLEETFLASH_REQUIRE_QEMU") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize(("firmware", "marker"), [
    ("bios", serial_marker.MARKER),
    ("uefi", efi_marker.MARKER),
], ids=["seabios", "ovmf-uefi"])
def test_sample_bundle_boots_as_a_cd(
        sample_bundle: Path, tmp_path: Path, firmware: str, marker: bytes) -> None:
    qemu = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
    _require(qemu, *([OVMF] if firmware == "uefi" else []))
    serial = tmp_path / "com1.log"
    command = [
        qemu, "-accel", "tcg", "-display", "none", "-nodefaults", "-no-reboot", "-m", "256",
        "-serial", f"file:{serial}",
        "-drive", f"file={sample_bundle},media=cdrom,readonly=on,format=raw",
        "-boot", "order=d",
    ] + (["-bios", str(OVMF)] if firmware == "uefi" else [])
    with (tmp_path / "qemu.err").open("wb") as err:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while not (serial.exists() and marker in serial.read_bytes()):
            assert process.poll() is None, (tmp_path / "qemu.err").read_text()
            assert time.monotonic() < deadline, \
                f"no marker on COM1; it shows: {serial.read_bytes()[-500:]!r}"
            time.sleep(0.2)
        # The other platform's image did not run: firmware picked its own entry.
        other = efi_marker.MARKER if firmware == "bios" else serial_marker.MARKER
        assert other not in serial.read_bytes()
    finally:
        process.terminate()
        process.wait(timeout=30)
