"""The Redfish client follows tasks the way real BMCs shape them (docs/interop.md,
"Vendor quirks"): each test takes an emulated BMC with one quirk and waits for an
update through ``BmcClient.wait_task`` as any caller would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.quirks import parse_quirks
from gateway.redfish import BmcClient, BmcEndpoint, TaskRef, TaskStatus
from tests.conftest import TestKeys

from .conftest import STARTING_VERSIONS, TEST_MODEL, endpoint_of, eventually, versions_of

QUIRKS = ("task-location-only", "task-in-body-only", "task-empty-202",
          "task-new-until-polled", "task-monitor-404-at-first=2", "task-lost-on-bmc-restart",
          "job-instead-of-task", "task-stopping-while-staged")
NIC = "/redfish/v1/UpdateService/FirmwareInventory/NIC"
BIOS = "/redfish/v1/UpdateService/FirmwareInventory/BIOS"


@pytest.fixture(scope="module")
def quirky(test_keys: TestKeys) -> Iterator[dict[str, BmcEndpoint]]:
    """One BMC per quirk (quirk name without value -> its endpoint)."""
    nodes = [NodeSpec(model=TEST_MODEL, quirks=parse_quirks([quirk])) for quirk in QUIRKS]
    with EmulatedCluster(nodes=nodes, trusted_keys=[test_keys.public], flash_seconds=0.1,
                         reset_seconds=0.1, bmc_restart_seconds=0.3) as cluster:
        yield {quirk.split("=")[0]: endpoint_of(node, timeout=10.0)
               for quirk, node in zip(QUIRKS, cluster.inventory, strict=True)}


def _wait(client: BmcClient, ref: TaskRef | None, **kwargs: float) -> TaskStatus:
    assert ref is not None
    return client.wait_task(ref, timeout=60, max_interval=0.2, error_interval=0.1, **kwargs)


@pytest.mark.parametrize(("quirk", "monitor"), [
    ("task-location-only", "/redfish/v1/TaskService/TaskMonitors/1"),
    ("task-in-body-only", "/redfish/v1/TaskService/Tasks/1"),
    ("task-empty-202", "/redfish/v1/TaskService/TaskMonitors/1"),
    ("task-new-until-polled", "/redfish/v1/TaskService/TaskMonitors/1"),
])
def test_the_task_is_followed_to_its_end(quirky: dict[str, BmcEndpoint],
                                         bundle_url: tuple[Path, str], quirk: str,
                                         monitor: str) -> None:
    with BmcClient.connect(quirky[quirk]) as client:
        ref = client.simple_update(bundle_url[1], targets=[NIC])
        assert ref is not None and ref.monitor_uri == monitor
        status = _wait(client, ref)
    assert (status.state, status.succeeded) == ("Completed", True)
    assert versions_of(quirky[quirk]) == STARTING_VERSIONS | {"NIC": "7.1"}


def test_a_monitor_404_at_first_is_waited_for_within_the_grace(
        quirky: dict[str, BmcEndpoint], bundle_url: tuple[Path, str]) -> None:
    with BmcClient.connect(quirky["task-monitor-404-at-first"]) as client:
        ref = client.simple_update(bundle_url[1], targets=[NIC])
        assert ref is not None
        # Believed at once, the 404 would say the task is gone.
        assert client.task_status(ref).missing
        status = _wait(client, ref)
    assert (status.state, status.succeeded, status.missing) == ("Completed", True, False)


def test_a_task_gone_after_the_bmc_restart_is_missing_not_failed(
        quirky: dict[str, BmcEndpoint], bundle_url: tuple[Path, str]) -> None:
    endpoint = quirky["task-lost-on-bmc-restart"]
    with BmcClient.connect(endpoint) as client:
        ref = client.simple_update(bundle_url[1], targets=["/redfish/v1/Managers/1"])
        assert _wait(client, ref).succeeded
    eventually(lambda: versions_of(endpoint), lambda v: v["BMC"] == "2.0.0")
    with BmcClient.connect(endpoint) as fresh:
        assert ref is not None
        gone = fresh.task_status(ref)
    assert (gone.state, gone.finished, gone.succeeded, gone.missing) == (
        "Gone", True, None, True)


def test_an_update_moved_to_a_job_is_followed_there(quirky: dict[str, BmcEndpoint],
                                                    bundle_url: tuple[Path, str]) -> None:
    with BmcClient.connect(quirky["job-instead-of-task"]) as client:
        ref = client.simple_update(bundle_url[1], targets=[NIC])
        status = _wait(client, ref)
        job = TaskRef("/redfish/v1/JobService/Jobs/1", "/redfish/v1/JobService/Jobs/1")
        # The task itself said Completed at once; the Job says when the update is over.
        assert client.task_status(job).state == "Completed"
    assert (status.state, status.succeeded, status.followed) == ("Completed", True, job)
    assert versions_of(quirky["job-instead-of-task"]) == STARTING_VERSIONS | {"NIC": "7.1"}


def test_a_staged_image_stopping_awaits_its_reset(quirky: dict[str, BmcEndpoint],
                                                  bundle_url: tuple[Path, str]) -> None:
    endpoint = quirky["task-stopping-while-staged"]
    with BmcClient.connect(endpoint) as client:
        bmc_ref = client.simple_update(bundle_url[1], targets=["/redfish/v1/Managers/1"])
        _wait(client, bmc_ref)  # BIOS needs the new BMC firmware first
    eventually(lambda: versions_of(endpoint), lambda v: v["BMC"] == "2.0.0")
    with BmcClient.connect(endpoint) as client:
        ref = client.simple_update(bundle_url[1], targets=[BIOS], apply_time="OnReset")
        status = _wait(client, ref)
        assert status.awaits_reset and not status.finished and status.state == "Stopping"
        assert versions_of(endpoint)["BIOS"] == "1.0.0"
        client.reset_host("ForceRestart")
    eventually(lambda: versions_of(endpoint), lambda v: v["BIOS"] == "1.5.0")
