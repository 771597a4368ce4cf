"""Reading what a BMC's logs say about an update: entries newer than the update's start,
on our clock even when the BMC's clock is an hour off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from emulator.cluster import EmulatedCluster
from gateway.orchestrator.bmc import FleetBmcClient
from gateway.redfish import BmcEndpoint

from .conftest import eventually


def test_log_entries_since_the_update_are_read_on_our_clock(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint,
        bundle_url: tuple[Path, str]) -> None:
    bmc = emulated.bmc(node["id"])
    ahead = datetime.now(UTC) + timedelta(hours=1)
    bmc.clock.set(ahead.isoformat(), None)  # the BMC's clock runs an hour ahead
    emulated.faults.set(node["id"], "flash_fails", component="BIOS")
    _, url = bundle_url
    client = FleetBmcClient.connect(endpoint)
    try:
        started = datetime.now(UTC)
        assert client.simple_update(url) is not None
        found = eventually(lambda: client.log_signals(started),
                           lambda signals: any(s.key == "ApplyFailed" for s in signals))
        (failed,) = [s for s in found if s.key == "ApplyFailed"]
        assert failed.source == "log" and failed.args[-1] == "BIOS"
        assert failed.origin.endswith("/FirmwareInventory/BIOS")
        assert failed.at is not None and abs(failed.at - datetime.now(UTC)) < timedelta(
            minutes=1)  # the hour of skew is taken out
        # Entries from before a later moment are older news.
        assert not [s for s in client.log_signals(datetime.now(UTC) + timedelta(seconds=5))
                    if s.key == "ApplyFailed"]
    finally:
        client.close()


def test_a_fresh_client_finds_the_update_targets(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    # A gateway restarted moments after its inventory reads nothing before it stages:
    # the Targets of the update still name the FirmwareInventory members.
    client = FleetBmcClient.connect(endpoint)
    try:
        targets = client.firmware_targets(["BIOS", "NIC"])
        assert targets is not None
        assert [t.rsplit("/", 1)[-1] for t in targets] == ["BIOS", "NIC"]
        assert all(t.startswith("/redfish/v1/UpdateService/FirmwareInventory/") for t in targets)
        assert client.firmware_targets(["CPLD"]) is None  # not a member: no Targets
    finally:
        client.close()
