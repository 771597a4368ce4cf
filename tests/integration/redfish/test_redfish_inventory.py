"""Inventory, virtual media, boot override, reset and error translation on the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.cluster import EmulatedCluster
from gateway.domain import Health, HealthStatus, PowerState
from gateway.redfish import (
    AuthenticationError,
    BmcBusyError,
    BmcClient,
    BmcEndpoint,
    BmcUnreachableError,
    OperationTimeoutError,
    RequestRejectedError,
    probe,
    wait_until_back,
)
from gateway.redfish.fallback import FIRMWARE_INVENTORY

from .conftest import STARTING_VERSIONS, TEST_MODEL, endpoint_of, eventually


def test_inventory_reads_model_serial_versions_and_capabilities(
        client: BmcClient, node: dict[str, str]) -> None:
    inventory = client.inventory()
    assert (inventory.model, inventory.serial) == (TEST_MODEL, node["serial"])
    assert inventory.installed_versions() == STARTING_VERSIONS
    assert inventory.health is HealthStatus.OK
    assert inventory.power_state in (PowerState.ON, PowerState.OFF)
    caps = inventory.capabilities
    assert caps.simple_update and set(caps.transfer_protocols) == {"HTTP", "HTTPS"}
    assert caps.multipart_push and caps.virtual_media_cd
    assert "Immediate" in caps.apply_times and "OnReset" in caps.apply_times
    assert caps.max_image_size is not None and caps.max_image_size > 0


def test_virtual_media_insert_replace_and_eject(client: BmcClient) -> None:
    client.insert_media("http://127.0.0.1:9/first.iso")
    client.insert_media("http://127.0.0.1:9/second.iso")  # ejects the first on its own
    state = client.media_state()
    assert state is not None and state.inserted and state.image == "http://127.0.0.1:9/second.iso"
    client.eject_media()
    client.eject_media()  # already empty: nothing to do, no error
    state = client.media_state()
    assert state is not None and not state.inserted and state.image is None


def test_boot_override_cd_once_then_cleared(client: BmcClient) -> None:
    client.set_boot_once_cd()
    override = client.boot_override()
    assert (override.target, override.enabled, override.pending) == ("Cd", "Once", True)
    client.clear_boot_override()
    assert not client.boot_override().pending


def test_reset_powers_an_off_host_on(client: BmcClient, endpoint: BmcEndpoint) -> None:
    if client.inventory().power_state is PowerState.ON:
        assert client.reset_host("ForceOff") == "ForceOff"
        eventually(lambda: client.inventory().power_state, lambda p: p is PowerState.OFF)
    assert client.reset_host() == "On"
    on = eventually(client.inventory, lambda inv: inv.power_state is PowerState.ON)
    assert on.observed_health() is Health.UP


def test_unsupported_apply_time_is_refused_before_anything_is_sent(client: BmcClient) -> None:
    with pytest.raises(RequestRejectedError, match="AtMaintenanceWindowStart"):
        client.simple_update("http://127.0.0.1:9/x.iso", apply_time="AtMaintenanceWindowStart")


def test_wrong_password_is_a_permanent_authentication_error(node: dict[str, str]) -> None:
    wrong = BmcEndpoint(node["id"], node["url"], node["username"], "not-the-password")
    with pytest.raises(AuthenticationError) as caught:
        BmcClient.connect(wrong)
    assert not caught.value.transient and "not-the-password" not in str(caught.value)
    assert not probe(wrong)


def test_unreachable_bmc_is_transient_and_waited_for(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    emulated.faults.set(node["id"], "unreachable", mode="refuse")
    with pytest.raises(BmcUnreachableError) as caught:
        BmcClient.connect(endpoint)
    assert caught.value.transient
    assert not probe(endpoint)
    outcomes: list[bool] = []

    def probe_then_heal(target: BmcEndpoint) -> bool:
        answered = probe(target)
        outcomes.append(answered)
        if len(outcomes) == 2:  # the BMC comes back after two refused probes
            emulated.faults.clear(node["id"], "unreachable")
        return answered

    probes = wait_until_back(endpoint, good_answers=3, interval=0.05, timeout=30,
                             check=probe_then_heal)
    assert outcomes[:2] == [False, False] and outcomes[-3:] == [True, True, True]
    assert probes == len(outcomes)


def test_a_bmc_that_stays_away_times_out(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    emulated.faults.set(node["id"], "unreachable", mode="refuse")
    with pytest.raises(OperationTimeoutError, match="0 of 2 consecutive") as caught:
        wait_until_back(endpoint, good_answers=2, interval=0.05, timeout=0.3)
    assert caught.value.transient


def test_busy_bmc_answers_503_which_is_transient(
        emulated: EmulatedCluster, node: dict[str, str], client: BmcClient) -> None:
    emulated.faults.set(node["id"], "service_unavailable", seconds=1)
    with pytest.raises(BmcBusyError) as caught:
        client.firmware_versions()
    assert caught.value.transient and caught.value.status == 503


def test_second_node_is_independent(emulated: EmulatedCluster, node: dict[str, str]) -> None:
    other = next(n for n in emulated.inventory if n["id"] != node["id"])
    with BmcClient.connect(endpoint_of(other)) as client:
        assert client.inventory().serial == other["serial"]


def test_a_staged_member_activated_mid_read_is_listed_afresh(
        emulated: EmulatedCluster, client: BmcClient, node: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The host reset activates a staged image just after the gateway listed the
    FirmwareInventory: its Staged- member answers 404. The gateway lists again and reads
    the new versions from FirmwareInventory (not from the fallback sources, which would
    lose the NIC)."""
    bmc = emulated.bmc(node["id"])
    bmc.firmware.stage("BIOS", "1.5.0")
    conn = client._root._conn
    real_get = conn.get
    collection = "/redfish/v1/UpdateService/FirmwareInventory"

    def get_then_reset(path: str, *args: Any, **kwargs: Any) -> Any:
        answer = real_get(path, *args, **kwargs)
        if path.rstrip("/").endswith(collection) and bmc.firmware.pending():
            assert any("Staged-BIOS" in m["@odata.id"] for m in answer.json()["Members"])
            bmc.activate_pending_firmware()  # the reset lands between list and read
        return answer

    monkeypatch.setattr(conn, "get", get_then_reset)
    found = client.inventory()
    assert found.capabilities.version_source == FIRMWARE_INVENTORY
    assert {c.id: c.version for c in found.firmware} == {**STARTING_VERSIONS, "BIOS": "1.5.0"}
