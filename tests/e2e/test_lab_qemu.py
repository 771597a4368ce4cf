"""`fleetflash lab up --libvirt-uri URI` on a real QEMU guest (TCG where KVM cannot be
used): the lab powers a real domain on, a BMC inserts the lab publisher's bundle as its
virtual CD (QEMU itself opens it over HTTP), and a Once boot override plus a reset
boots the guest from that CD: the bundle's El Torito boot image runs and prints its
marker on the guest's COM1, which libvirt keeps in the domain's log.

The libvirt daemons are private to the test module (tests/support/libvirt_daemon.py);
setup for your own labs: docs/lab.md.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import requests

from firmware_payloads.samples.boot.serial_marker import MARKER
from lab.lab_publisher import build_sample_bundle
from tests.e2e.conftest import RunningLab, fleetflash
from tests.integration.emulator.test_emulator_qemu import (  # noqa: F401  (fixtures)
    libvirt_daemon,
    qemu_uri,
)
from tests.support.libvirt_daemon import PrivateLibvirt
from tests.support.waiting import wait_until

DOMAIN = "fleetflash-bmc-0000"  # kept domains on a real daemon are named fleetflash-<bmc id>
TOPOLOGY = """\
name: qemu-one
# The update CD's emulated flashes (3 x flash_seconds) are how long the guest runs the
# CD before the BMC reboots it to disk; SeaBIOS reaches the CD in about a second.
emulator: {flash_seconds: 4, reset_seconds: 0.2, bmc_restart_seconds: 0.5}
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


def _post_until_accepted(session: requests.Session, url: str, body: object) -> bool:
    """POST until the BMC accepts it: it is briefly busy or restarting after an update."""
    def accepted() -> bool:
        try:
            return session.post(url, json=body, timeout=30).status_code in (200, 202, 204)
        except requests.ConnectionError:
            return False
    return bool(wait_until(accepted, 120))


def test_lab_on_real_qemu_boots_the_bundle_cd_through_a_bmc(
        libvirt_daemon: PrivateLibvirt, tmp_path: Path) -> None:  # noqa: F811
    uri = libvirt_daemon.uri
    connection = libvirt.open(uri)
    topology = tmp_path / "qemu-one.yaml"
    topology.write_text(TOPOLOGY)
    lab = RunningLab(tmp_path / "state.json", tmp_path / "lab")
    try:
        up = fleetflash("lab", "up", str(topology), "--libvirt-uri", uri,
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

        serial = libvirt_daemon.domain_log(DOMAIN)
        seen = len(serial.read_bytes())  # only what the guest logs after the reset counts
        override = session.patch(bmc["url"] + "/redfish/v1/Systems/1", timeout=30, json={
            "Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}})
        assert override.status_code in (200, 204), override.text
        reset = session.post(bmc["url"] + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                             json={"ResetType": "ForceRestart"}, timeout=60)
        assert reset.status_code in (200, 202, 204), reset.text
        wait_until(lambda: MARKER in serial.read_bytes()[seen:], 120,
                   describe=lambda: serial.read_text()[-1500:])
        # And it ran because the BMC started the guest with the CD first: the QEMU
        # command line libvirt logged for that start (emulated hosts have no disk,
        # so firmware could also reach the CD by falling through an empty disk).
        started = serial.read_bytes()[seen:].split(MARKER)[0]
        cd_devices = re.findall(rb'"driver":"ide-cd"[^}]*', started)
        assert cd_devices and re.search(rb'"bootindex":1(?!\d)', cd_devices[-1]), cd_devices

        # The BMC ran its (emulated) update from that CD, rebooted the host to disk
        # (activating BIOS and NIC) and restarted itself into the new BMC firmware.
        wait_until(lambda: [r["event"] for r in lab.audit()].count("flash_end") == 3, 120)
        assert any(r.get("reason") == "update CD finished" for r in lab.audit())
        assert _post_until_accepted(
            session, bmc["url"] + actions["#VirtualMedia.EjectMedia"]["target"], {})
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
