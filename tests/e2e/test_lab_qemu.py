"""`fleetflash lab up --libvirt-uri URI` on real QEMU guests (TCG where KVM is not
available): the lab powers a real domain on, and a BMC inserts and ejects the lab
publisher's bundle as its virtual CD, which QEMU itself opens over HTTP.

Slow: runs only with FLEETFLASH_SLOW=1 and a reachable libvirt QEMU daemon
(qemu:///system, or FLEETFLASH_LIBVIRT_URI); the skip logic is the emulator's own QEMU
test's (tests/integration/emulator/test_emulator_qemu.py). Setup: docs/lab.md.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest
import requests

from lab.lab_publisher import build_sample_bundle
from tests.e2e.conftest import RunningLab, fleetflash
from tests.integration.emulator.test_emulator_qemu import qemu_uri  # noqa: F401  (fixture)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
DOMAIN = "fleetflash-bmc-0000"  # kept domains on a real daemon are named fleetflash-<bmc id>
TOPOLOGY = """\
name: qemu-one
emulator: {flash_seconds: 0.2, reset_seconds: 0.2, bmc_restart_seconds: 0.5}
clusters:
  - name: q
    failure_budget: 0
    groups:
      - name: q-g1
        max_unavailable: 1
        nodes:
          - {name: q-1, model: FF-1U-R450, firmware: {BMC: "2.6.0", BIOS: "1.14.2", NIC: "22.0.4"}}
"""


def _cd_source(domain: libvirt.virDomain) -> str | None:
    """The URL (or None) of the domain's CD-ROM as libvirt has it now."""
    for disk in ET.fromstring(domain.XMLDesc()).iter("disk"):
        if disk.get("device") == "cdrom":
            source, host = disk.find("source"), disk.find("source/host")
            if source is None or host is None:
                return None
            return f"{source.get('protocol')}://{host.get('name')}:{host.get('port')}" \
                   f"{source.get('name')}"
    raise AssertionError("the domain has no CD-ROM")


def test_lab_on_real_qemu_inserts_and_ejects_media_through_a_bmc(
        qemu_uri: str, tmp_path: Path) -> None:  # noqa: F811
    connection = libvirt.open(qemu_uri)
    if DOMAIN in connection.listDefinedDomains() + [
            connection.lookupByID(i).name() for i in connection.listDomainsID()]:
        pytest.skip(f"{qemu_uri} already has {DOMAIN} (a lab of yours?); not touching it")
    topology = tmp_path / "qemu-one.yaml"
    topology.write_text(TOPOLOGY)
    lab = RunningLab(tmp_path / "state.json", tmp_path / "lab")
    try:
        up = fleetflash("lab", "up", str(topology), "--libvirt-uri", qemu_uri,
                        "--state-file", str(lab.state_file), "--workdir", str(lab.workdir))
        assert up.returncode == 0, up.stdout + up.stderr
        domain = connection.lookupByName(DOMAIN)
        assert domain.isActive()  # `lab up` powered the real guest on
        (bmc,) = lab.state.get("emulator.inventory")
        session = requests.Session()
        session.auth = (bmc["username"], bmc["password"])
        cd = session.get(bmc["url"] + "/redfish/v1/Managers/1/VirtualMedia/CD", timeout=30).json()
        actions = cd["Actions"]

        site = Path(lab.state.get("publisher.dir"))
        build_sample_bundle(Path(lab.state.get("keys.private")), site / "qemu.iso")
        image = lab.state.get("publisher.url") + "qemu.iso"
        inserted = session.post(bmc["url"] + actions["#VirtualMedia.InsertMedia"]["target"],
                                json={"Image": image}, timeout=60)
        assert inserted.status_code in (200, 202, 204), inserted.text
        wait_until(lambda: _cd_source(domain) == image, 60)
        cd = session.get(bmc["url"] + "/redfish/v1/Managers/1/VirtualMedia/CD", timeout=30).json()
        assert cd["Inserted"] is True and cd["Image"] == image

        ejected = session.post(bmc["url"] + actions["#VirtualMedia.EjectMedia"]["target"],
                               json={}, timeout=60)
        assert ejected.status_code in (200, 202, 204), ejected.text
        wait_until(lambda: _cd_source(domain) is None, 60)
        events = [r["event"] for r in lab.audit()]
        assert events.count("media_insert") == 1 and events.count("media_eject") == 1
    finally:
        if lab.state_file.exists():
            fleetflash("lab", "down", "--state-file", str(lab.state_file))
        try:
            leftover = connection.lookupByName(DOMAIN)
            if leftover.isActive():
                leftover.destroy()
            leftover.undefine()
        except libvirt.libvirtError:
            pass
        connection.close()
