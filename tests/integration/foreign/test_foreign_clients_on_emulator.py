"""Ansible community.general and DMTF redfish-utilities against the emulator.

Both are what operators already run against real BMCs; the emulator must look like
one to them: inventory, SimpleUpdate and multipart push read back as new versions,
virtual media, boot override and power. The emulator runs plain HTTP and HTTPS
(its two personalities); Ansible's redfish modules only speak HTTPS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sushy

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.publisher import BundleServer
from firmware_payloads import load_private_key
from tests.conftest import KEYS_DIR, BundleFactory
from tests.integration.foreign.clients import Bmc, run_dmtf_tool, run_playbook

MODEL = "FF-TEST"  # the model of tests/conftest.py's small bundle
STARTING = {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "1.0.0"}
UPDATED = {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"}
NODES = 20


class Lab:
    """An emulated cluster whose tests each take a node nobody else touched."""

    def __init__(self, cluster: EmulatedCluster) -> None:
        self.cluster = cluster
        self._free = list(cluster.inventory)
        self._lock = threading.Lock()

    def take(self) -> tuple[str, Bmc]:
        with self._lock:
            node = self._free.pop(0)
        return node["id"], Bmc.of(node)

    def installed(self, bmc_id: str) -> dict[str, str]:
        return dict(self.cluster.bmc(bmc_id).firmware.installed())


def _lab(tls: bool, nodes: int = NODES) -> Iterator[Lab]:
    with EmulatedCluster(nodes=[NodeSpec(model=MODEL) for _ in range(nodes)],
                         trusted_keys=[KEYS_DIR / "TEST-ONLY-bundle-signing.pub"], tls=tls,
                         flash_seconds=0.1, reset_seconds=0.1,
                         bmc_restart_seconds=0.3) as cluster:
        yield Lab(cluster)


@pytest.fixture(scope="module")
def https_lab() -> Iterator[Lab]:
    yield from _lab(tls=True)


@pytest.fixture(scope="module")
def http_lab() -> Iterator[Lab]:
    yield from _lab(tls=False)


@pytest.fixture
def lone_http_lab() -> Iterator[Lab]:
    """A one-BMC plain-HTTP cluster of its own."""
    yield from _lab(tls=False, nodes=1)


@pytest.fixture(params=["http", "https"])
def lab(request: pytest.FixtureRequest) -> Lab:
    """Each emulator personality in turn (for clients that speak both)."""
    found: Lab = request.getfixturevalue(f"{request.param}_lab")
    return found


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The small signed bundle (BMC 2.0.0, BIOS 1.5.0, NIC 7.1) and its URL."""
    directory = tmp_path_factory.mktemp("client-bundle")
    path = BundleFactory(directory, load_private_key(KEYS_DIR / "TEST-ONLY-bundle-signing.key"))()
    with BundleServer([path]) as server:
        yield path, server.url_for(path)


def wait_versions(lab: Lab, bmc_id: str, expected: dict[str, str]) -> dict[str, str]:
    """Versions are applied after the flash and the resets; wait for them (a hang
    guard, not a speed assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and lab.installed(bmc_id) != expected:
        time.sleep(0.1)
    return lab.installed(bmc_id)


def wait_power_on(lab: Lab, bmc_id: str) -> str:
    """The host goes PoweringOn, then On after the emulated boot time."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and lab.cluster.bmc(bmc_id).power_state() != "On":
        time.sleep(0.05)
    return lab.cluster.bmc(bmc_id).power_state()


# -- Ansible community.general -------------------------------------------------------------

def test_ansible_redfish_info_reads_the_inventory(https_lab: Lab, tmp_path: Path) -> None:
    bmc_id, bmc = https_lab.take()
    run = run_playbook(tmp_path, bmc, [
        {"community.general.redfish_info": {"category": "Systems",
                                            "command": "GetSystemInventory"}},
        {"community.general.redfish_info": {"category": "Update",
                                            "command": "GetFirmwareInventory,"
                                                       "GetFirmwareUpdateCapabilities"}},
        {"community.general.redfish_info": {"category": "Manager",
                                            "command": "GetManagerInventory,GetVirtualMedia"}},
    ])
    assert run.returncode == 0, run.results
    [[_uri, system]] = run.facts(0)["system"]["entries"]
    assert (system["Model"], system["BiosVersion"]) == (MODEL, STARTING["BIOS"])
    firmware = run.facts(1)["firmware"]["entries"]
    assert {f["Id"]: f["Version"] for f in firmware} == STARTING
    capabilities = run.facts(1)["firmware_update_capabilities"]
    assert capabilities["multipart_supported"]
    assert capabilities["entries"]["#UpdateService.SimpleUpdate"] == ["HTTP", "HTTPS"]
    [[_uri, manager]] = run.facts(2)["manager"]["entries"]
    assert manager["FirmwareVersion"] == STARTING["BMC"]
    [[_uri, media]] = run.facts(2)["virtual_media"]["entries"]
    assert [m["Id"] for m in media] == ["CD"]


def test_ansible_finds_virtual_media_under_the_system(https_lab: Lab, tmp_path: Path) -> None:
    _bmc_id, bmc = https_lab.take()
    run = run_playbook(tmp_path, bmc, [
        {"community.general.redfish_info": {"category": "Systems",
                                            "command": "GetVirtualMedia"}}])
    virtual_media = run.facts(0)["virtual_media"]
    assert virtual_media["ret"], virtual_media


def test_ansible_simple_update_is_followed_to_the_new_versions(
        https_lab: Lab, bundle: tuple[Path, str], tmp_path: Path) -> None:
    bmc_id, bmc = https_lab.take()
    _path, url = bundle
    run = run_playbook(tmp_path, bmc, [
        {"community.general.redfish_command": {
            "category": "Update", "command": "SimpleUpdate", "update_image_uri": url,
            "update_protocol": "HTTP", "update_targets": []}, "register": "update"},
        {"community.general.redfish_info": {
            "category": "Update", "command": "GetUpdateStatus",
            "update_handle": "{{ update.return_values.update_status.handle }}"},
         "register": "status", "retries": 60, "delay": 1,
         "until": "status.redfish_facts.update_status.status | default('') in "
                  "['Completed', 'Exception', 'Killed', 'Cancelled']"},
    ])
    assert run.result(0).get("changed") and not run.result(0).get("failed"), run.result(0)
    assert run.facts(1)["update_status"]["status"] == "Completed", run.result(1)
    assert wait_versions(https_lab, bmc_id, UPDATED) == UPDATED


def test_ansible_multipart_push_updates_the_node(
        https_lab: Lab, bundle: tuple[Path, str], tmp_path: Path) -> None:
    bmc_id, bmc = https_lab.take()
    path, _url = bundle
    run = run_playbook(tmp_path, bmc, [
        {"community.general.redfish_command": {
            "category": "Update", "command": "MultipartHTTPPushUpdate",
            "update_image_file": str(path)}}])
    assert not run.result(0).get("failed"), run.result(0)
    assert wait_versions(https_lab, bmc_id, UPDATED) == UPDATED


def test_ansible_virtual_media_boot_override_and_power(
        https_lab: Lab, bundle: tuple[Path, str], tmp_path: Path) -> None:
    bmc_id, bmc = https_lab.take()
    _path, url = bundle
    media = {"image_url": url, "media_types": ["CD", "DVD"]}
    # Power on first: a host that boots with the update CD inserted installs it.
    run = run_playbook(tmp_path, bmc, [
        {"community.general.redfish_command": {"category": "Systems", "command": "PowerOn"}},
        {"community.general.redfish_command": {"category": "Manager",
                                               "command": "VirtualMediaInsert",
                                               "virtual_media": media}},
        {"community.general.redfish_command": {"category": "Systems",
                                               "command": "SetOneTimeBoot", "bootdevice": "Cd"}},
        {"community.general.redfish_info": {"category": "Systems",
                                            "command": "GetBootOverride"}},
        {"community.general.redfish_info": {"category": "Manager",
                                            "command": "GetVirtualMedia"}},
        {"community.general.redfish_command": {"category": "Manager",
                                               "command": "VirtualMediaEject",
                                               "virtual_media": {"image_url": url}}},
    ])
    assert [r.get("failed", False) for r in run.results] == [False] * 6, run.results
    [[_uri, boot]] = run.facts(3)["boot_override"]["entries"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == \
        ("Cd", "Once"), boot
    [[_uri, inserted]] = run.facts(4)["virtual_media"]["entries"]
    assert (inserted[0]["Id"], inserted[0]["Image"]) == ("CD", url), inserted
    bmc_audit = [r for r in https_lab.cluster.audit.records() if r["bmc"] == bmc_id]
    assert [r["event"] for r in bmc_audit if r["event"].startswith("media_")] == \
        ["media_insert", "media_eject"]
    assert wait_power_on(https_lab, bmc_id) == "On"


def test_ansible_on_the_plain_http_port_fails_at_once(lone_http_lab: Lab,
                                                      tmp_path: Path) -> None:
    """Ansible always speaks HTTPS: pointed at a plain-HTTP BMC, it must get a clear
    TLS error, not a handshake that times out. Its own cluster: today the unanswered
    handshakes hold the server's workers, which would starve the other tests' BMCs."""
    _bmc_id, bmc = lone_http_lab.take()
    run = run_playbook(tmp_path, bmc, [
        {"community.general.redfish_info": {"category": "Systems",
                                            "command": "GetSystemInventory"}}], timeout_s=5)
    message = str(run.result(0).get("msg", ""))
    assert run.result(0).get("failed"), run.result(0)
    assert "timed out" not in message, message


# -- DMTF redfish-utilities ------------------------------------------------------------------

def test_dmtf_inventory_tools_read_the_node(lab: Lab) -> None:
    _bmc_id, bmc = lab.take()
    system = run_dmtf_tool("rf_sys_inventory.py", bmc)
    assert system.returncode == 0, system.output
    assert MODEL in system.output
    firmware = run_dmtf_tool("rf_firmware_inventory.py", bmc)
    assert firmware.returncode == 0, firmware.output
    for component, version in STARTING.items():
        assert f"{component} firmware" in firmware.output and version in firmware.output


@pytest.mark.parametrize("source", ["uri", "file"])
def test_dmtf_rf_update_succeeds_and_says_so(lab: Lab, bundle: tuple[Path, str],
                                            source: str) -> None:
    """By URI (SimpleUpdate) or by local file (multipart push)."""
    bmc_id, bmc = lab.take()
    path, url = bundle
    run = run_dmtf_tool("rf_update.py", bmc, "-i", url if source == "uri" else str(path))
    assert wait_versions(lab, bmc_id, UPDATED) == UPDATED
    assert run.returncode == 0, run.output


def test_dmtf_boot_override_and_power(lab: Lab) -> None:
    bmc_id, bmc = lab.take()
    boot = run_dmtf_tool("rf_boot_override.py", bmc, "-t", "Cd")
    assert boot.returncode == 0, boot.output
    shown = run_dmtf_tool("rf_boot_override.py", bmc)  # no target: show the settings
    assert shown.returncode == 0 and "Cd" in shown.output and "Once" in shown.output, \
        shown.output
    power = run_dmtf_tool("rf_power_reset.py", bmc, "-t", "On")
    assert power.returncode == 0, power.output
    assert wait_power_on(lab, bmc_id) == "On"


def test_dmtf_event_subscription(lab: Lab) -> None:
    _bmc_id, bmc = lab.take()
    created = run_dmtf_tool("rf_event_service.py", bmc, "subscribe",
                            "-dest", "http://127.0.0.1:9/events", "-c", "interop")
    assert created.returncode == 0, created.output
    assert "Created subscription '/redfish/v1/EventService/Subscriptions/" in created.output
    info = run_dmtf_tool("rf_event_service.py", bmc, "info")
    assert info.returncode == 0 and "http://127.0.0.1:9/events" in info.output, info.output


def test_dmtf_event_subscription_by_event_types(lab: Lab) -> None:
    _bmc_id, bmc = lab.take()
    created = run_dmtf_tool("rf_event_service.py", bmc, "subscribe",
                            "-dest", "http://127.0.0.1:9/events", "-et", "Alert")
    assert created.returncode == 0, created.output


# -- sushy (the OpenStack library Ironic drives BMCs with) -----------------------------------

def sushy_root(bmc: Bmc) -> sushy.Sushy:
    """Basic auth: a session would be logged out by Sushy.__del__ whenever the garbage
    collector reaches it, possibly after the emulator stopped (a DELETE that hangs)."""
    return sushy.Sushy(bmc.url + "/redfish/v1", verify=False,
                       auth=sushy.auth.BasicAuth(bmc.username, bmc.password))


def test_sushy_reads_inventory_and_manager_virtual_media(lab: Lab) -> None:
    _bmc_id, bmc = lab.take()
    root = sushy_root(bmc)
    assert root.get_system().bios_version == STARTING["BIOS"]
    assert root.get_manager().firmware_version == STARTING["BMC"]
    [cd] = root.get_manager().virtual_media.get_members()
    assert cd.identity == "CD" and not cd.inserted


def test_sushy_reads_the_event_service(lab: Lab) -> None:
    _bmc_id, bmc = lab.take()
    assert sushy_root(bmc).get_event_service().service_enabled


def test_sushy_finds_virtual_media_under_the_system(lab: Lab) -> None:
    _bmc_id, bmc = lab.take()
    [cd] = sushy_root(bmc).get_system().virtual_media.get_members()
    assert cd.identity
