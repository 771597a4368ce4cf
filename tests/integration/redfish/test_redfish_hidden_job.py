"""An update request whose answer was lost (a gateway crash) is found again on the BMC:
in TaskService Tasks or, on a BMC that moved the update to a Job and no longer lists the
Task, in JobService Jobs (docs/interop.md, "job-instead-of-task"). A real loopback BMC
with the quirk; the Task's disappearance is the emulator dropping its task list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emulator.bmc import Bmc
from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.quirks import parse_quirks
from gateway.redfish import BmcClient, BmcEndpoint, TaskRef, TaskStatus
from tests.conftest import TestKeys

from .conftest import STARTING_VERSIONS, TEST_MODEL, endpoint_of, eventually, versions_of

NIC = "/redfish/v1/UpdateService/FirmwareInventory/NIC"


@pytest.fixture(scope="module")
def lab(test_keys: TestKeys) -> Iterator[list[tuple[Bmc, BmcEndpoint]]]:
    """A BMC that moves updates to Jobs, and a clean one."""
    nodes = [NodeSpec(model=TEST_MODEL, quirks=parse_quirks(["job-instead-of-task"])),
             NodeSpec(model=TEST_MODEL)]
    with EmulatedCluster(nodes=nodes, trusted_keys=[test_keys.public], flash_seconds=0.5,
                         reset_seconds=0.1, bmc_restart_seconds=0.3) as cluster:
        yield [(bmc, endpoint_of(node, timeout=10.0))
               for bmc, node in zip(cluster.bmcs, cluster.inventory, strict=True)]


def _update(client: BmcClient, bundle_url: tuple[Path, str]) -> tuple[datetime, TaskRef]:
    """When the update was asked for (a second early: the BMC's clock), and its task."""
    intent = datetime.now(UTC) - timedelta(seconds=1)
    ref = client.simple_update(bundle_url[1], targets=[NIC])
    assert ref is not None
    return intent, ref


def _wait(client: BmcClient, ref: TaskRef) -> TaskStatus:
    return client.wait_task(ref, timeout=60, max_interval=0.2, error_interval=0.1)


def test_the_job_of_an_update_whose_task_is_gone_is_adopted(
        lab: list[tuple[Bmc, BmcEndpoint]], bundle_url: tuple[Path, str]) -> None:
    bmc, endpoint = lab[0]
    with BmcClient.connect(endpoint) as client:
        intent, ref = _update(client, bundle_url)
        moved = eventually(lambda: client.task_status(ref).followed, lambda job: job is not None)
        bmc.tasks.clear()  # the Task is gone; the Job it moved to runs on
        assert client.list_tasks() == []
        found = client.find_update_task(intent)
        assert found == moved == TaskRef("/redfish/v1/JobService/Jobs/1",
                                         "/redfish/v1/JobService/Jobs/1")
        assert found is not None
        status = _wait(client, found)
        assert (status.state, status.succeeded) == ("Completed", True)
        # A Job started before the request is not the request's.
        assert client.find_update_task(datetime.now(UTC) + timedelta(minutes=1)) is None
    assert versions_of(endpoint) == STARTING_VERSIONS | {"NIC": "7.1"}


def test_a_bmc_without_jobservice_is_searched_in_tasks_only(
        lab: list[tuple[Bmc, BmcEndpoint]], bundle_url: tuple[Path, str]) -> None:
    bmc, endpoint = lab[1]
    with BmcClient.connect(endpoint) as client:
        intent, ref = _update(client, bundle_url)
        found = client.find_update_task(intent)
        assert found is not None and ref.task_uri is not None
        assert found.task_uri == ref.task_uri
        _wait(client, found)
        bmc.tasks.clear()
        assert client.find_update_task(intent) is None
