"""Redfish services this project did not write, started as real processes on loopback.

- OpenStack sushy-tools (`sushy-emulator`, pip package ``sushy-tools``) with its fake
  driver (several systems in one service, no BIOS version) or its libvirt driver on
  ``test:///default`` (one system whose BiosVersion SimpleUpdate bumps).
- DMTF's Redfish-Mockup-Server serving DMTF's public mockups (``public-rackmount1``: one
  system with a FirmwareInventory in vendor formats; ``public-bladed``: four blades
  behind one service root, no UpdateService). The server has no pip package, so its
  script is vendored unmodified in vendor/redfish_mockup_server (BSD-3, see its
  LICENSE.md); the mockups are vendored in vendor/dmtf_mockups (BSD-3).

Each service gets a free port and its own state (a private sushy-tools state directory,
a private copy of the mockup: POST and PATCH change the mockup server's memory), and is
stopped by the fixture that started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.ports import restartable_port

VENDOR = Path(__file__).resolve().parent / "vendor"
MOCKUP_SERVER = VENDOR / "redfish_mockup_server" / "redfishMockupServer.py"
MOCKUPS = VENDOR / "dmtf_mockups"
BIN = Path(sys.executable).parent

# The fake driver's systems: three hosts behind one sushy-tools service root, as a blade
# chassis manager or a Redfish aggregator would present them.
FAKE_SYSTEMS = (
    {"uuid": "7f3a1c52-0a43-4c47-9d8a-1d8a0c0e0001", "name": "fake-node-1"},
    {"uuid": "7f3a1c52-0a43-4c47-9d8a-1d8a0c0e0002", "name": "fake-node-2"},
    {"uuid": "7f3a1c52-0a43-4c47-9d8a-1d8a0c0e0003", "name": "fake-node-3"},
)


class ServiceStartError(RuntimeError):
    """A foreign service did not come up; the message carries the end of its log."""


@dataclass
class ForeignService:
    """A running foreign Redfish service: ``url`` is its scheme and authority."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    workdir: Path
    facts: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> dict[str, Any]:
        """GET a resource (``/redfish/v1/...``) as JSON; raises for a non-2xx answer."""
        response = requests.get(self.url + path, timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def status_of(self, path: str) -> int:
        return requests.get(self.url + path, timeout=10).status_code

    def members(self, path: str) -> list[str]:
        return [str(m["@odata.id"]) for m in self.get(path).get("Members", [])]

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def free_port() -> int:
    """A loopback port for a server started later (lab/ports.py: below the ephemeral
    range, and never one this process picked recently)."""
    return restartable_port()


def _start(name: str, argv_for_port: Any, workdir: Path, *, env: dict[str, str] | None = None,
           timeout: float = 60.0) -> ForeignService:
    """Start ``argv_for_port(port)`` in its own process group and wait until the service
    root answers. A port taken between the probe and the bind gets a second try."""
    for _attempt in range(3):
        port = free_port()
        log = workdir / f"{name}-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv_for_port(port), stdout=out, stderr=subprocess.STDOUT,
                                       cwd=workdir, env={**os.environ, **(env or {})},
                                       start_new_session=True)
        service = ForeignService(name, f"http://127.0.0.1:{port}", process, log, workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(service.url + "/redfish/v1/", timeout=2).status_code == 200:
                    return service
            except requests.RequestException:
                pass
            time.sleep(0.1)
        service.stop()
        if "Address already in use" not in service.log_tail():
            break
    raise ServiceStartError(f"{name} did not start:\n{service.log_tail()}")


def start_sushy_fake(workdir: Path, systems: tuple[dict[str, str], ...] = FAKE_SYSTEMS
                     ) -> ForeignService:
    """sushy-emulator --fake with ``systems`` powered on, its state in ``workdir``."""
    fake = [{**system, "power_state": "On", "nics": []} for system in systems]
    config = workdir / "sushy-fake.conf"
    config.write_text(
        f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
        f"SUSHY_EMULATOR_STATE_DIR = {str(workdir / 'state')!r}\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {fake!r}\n")
    service = _start("sushy-fake", lambda port: [
        str(BIN / "sushy-emulator"), "--config", str(config), "--fake",
        "-i", "127.0.0.1", "-p", str(port)], workdir)
    service.facts["systems"] = systems
    return service


def start_sushy_libvirt(workdir: Path) -> ForeignService:
    """sushy-emulator on libvirt's embedded test driver (one running domain, "test")."""
    config = workdir / "sushy-libvirt.conf"
    config.write_text(
        f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
        f"SUSHY_EMULATOR_STATE_DIR = {str(workdir / 'state')!r}\n")
    return _start("sushy-libvirt", lambda port: [
        str(BIN / "sushy-emulator"), "--config", str(config),
        "--libvirt-uri", "test:///default", "-i", "127.0.0.1", "-p", str(port)], workdir)


def start_dmtf_mockup(workdir: Path, mockup: str,
                      edit: Callable[[Path], None] | None = None) -> ForeignService:
    """DMTF's Redfish-Mockup-Server serving a private copy of the public mockup ``mockup``
    (short form: the mockup's top directory is /redfish/v1). ``edit(copy)`` may change
    the copy before the server starts (a test that needs what a mockup lacks says so)."""
    copy = workdir / mockup
    shutil.copytree(MOCKUPS / mockup, copy)
    if edit is not None:
        edit(copy)
    service = _start(f"dmtf-{mockup}", lambda port: [
        sys.executable, str(MOCKUP_SERVER), "-H", "127.0.0.1", "-p", str(port),
        "-S", "-D", str(copy)], workdir)
    service.facts["mockup"] = mockup
    return service
