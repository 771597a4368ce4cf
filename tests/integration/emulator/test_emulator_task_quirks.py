"""Task shapes and states of vendor quirks (emulator/quirks.py), over HTTP against the
real emulator: each quirk behaves as documented, and without it the BMC behaves the
DMTF way (each test's clean twin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from emulator.audit import read_audit_log
from emulator.cluster import EmulatedCluster
from emulator.quirks import parse_quirks
from tests.integration.emulator.conftest import (
    SIMPLE_UPDATE,
    http,
    make_nodes,
    refuses_connections,
    versions,
    wait_until,
)

NIC = "/redfish/v1/UpdateService/FirmwareInventory/NIC"
BIOS = "/redfish/v1/UpdateService/FirmwareInventory/BIOS"
MANAGER = "/redfish/v1/Managers/1"
TASKS = "/redfish/v1/TaskService/Tasks"
Factory = Callable[..., EmulatedCluster]


def _node(cluster_factory: Factory, *quirks: str, **spec: Any) -> dict[str, str]:
    cluster = cluster_factory(nodes=make_nodes(1, quirks=parse_quirks(quirks), **spec))
    return cluster.inventory[0]


def _update(node: dict[str, str], url: str, *targets: str, **extra: Any) -> requests.Response:
    response = http(node).post(node["url"] + SIMPLE_UPDATE,
                               json={"ImageURI": url, "Targets": list(targets), **extra})
    assert response.status_code == 202, response.text
    return response


def _version(node: dict[str, str], member: str) -> str:
    """One component's running version (its own member; a staged one is listed apart)."""
    version: str = http(node).get(node["url"] + member).json()["Version"]
    return version


def _flash_ended(cluster: EmulatedCluster, component: str) -> bool:
    return any(r["event"] == "flash_end" and r["component"] == component
               for r in read_audit_log(cluster.audit_log_path))


# -- the three shapes of a 202 -------------------------------------------------------------

@pytest.mark.parametrize("quirk", ["", "task-location-only", "task-in-body-only",
                                   "task-empty-202"])
def test_the_202_has_the_shape_the_quirk_names(cluster_factory: Factory, small_bundle_url: Any,
                                               quirk: str) -> None:
    node = _node(cluster_factory, *([quirk] if quirk else []))
    response = _update(node, small_bundle_url[0], NIC)
    location = response.headers.get("Location")
    body = response.json() if response.content else None
    if quirk == "task-location-only":
        assert location == "/redfish/v1/TaskService/TaskMonitors/1"
        assert body is not None and "@odata.id" not in body
        assert body["@Message.ExtendedInfo"][0]["MessageId"].endswith(".Success")
    elif quirk == "task-in-body-only":
        assert location is None
        assert body is not None and body["@odata.id"] == f"{TASKS}/1"
    elif quirk == "task-empty-202":
        assert location == "/redfish/v1/TaskService/TaskMonitors/1" and body is None
        assert response.content == b""
    else:  # the DMTF way: both
        assert location == "/redfish/v1/TaskService/TaskMonitors/1"
        assert body is not None and body["@odata.id"] == f"{TASKS}/1"
    follow = node["url"] + (location or f"{TASKS}/1")
    done = wait_until(lambda: (r := http(node).get(follow)).status_code == 200 and r.json())
    assert done["TaskState"] == "Completed"
    assert versions(node)["NIC"] == "7.1"


def test_the_task_shapes_contradict_each_other() -> None:
    from emulator.errors import ConfigError

    with pytest.raises(ConfigError, match="contradict"):
        parse_quirks(["task-empty-202", "task-in-body-only"])


# -- TaskState New, then Starting --------------------------------------------------------------

@pytest.mark.parametrize("quirk", [True, False])
def test_a_new_task_says_new_then_starting_to_its_first_reads(
        cluster_factory: Factory, small_bundle_url: Any, quirk: bool) -> None:
    cluster = cluster_factory(nodes=make_nodes(
        1, quirks=parse_quirks(["task-new-until-polled"] if quirk else [])))
    node = cluster.inventory[0]
    monitor = node["url"] + _update(node, small_bundle_url[0], NIC).headers["Location"]
    wait_until(lambda: _flash_ended(cluster, "NIC"))  # the work itself is over
    answers = [(r.status_code, r.json()["TaskState"])
               for r in (http(node).get(monitor) for _ in range(5))]
    if quirk:
        assert answers == [(202, "New"), (202, "New"), (202, "Starting"), (202, "Starting"),
                           (200, "Completed")]
    else:
        assert answers == [(200, "Completed")] * 5


# -- TaskState Stopping while staged -----------------------------------------------------------

@pytest.mark.parametrize("quirk", [True, False])
def test_a_staged_image_keeps_its_task_stopping_until_the_host_reset(
        cluster_factory: Factory, small_bundle_url: Any, quirk: bool) -> None:
    node = _node(cluster_factory, *(["task-stopping-while-staged"] if quirk else []),
                 firmware={"BMC": "2.0.0"})
    url = small_bundle_url[0]
    monitor = node["url"] + _update(node, url, BIOS, **{
        "@Redfish.OperationApplyTime": "OnReset"}).headers["Location"]
    session = http(node)
    expected = "Stopping" if quirk else "Completed"
    task = wait_until(lambda: (body := session.get(monitor).json())["TaskState"] == expected
                      and body)
    ids = [m["MessageId"].rsplit(".", 1)[-1] for m in task["Messages"]]
    assert "AwaitToActivate" in ids and "ResetRequired" in ids
    assert session.get(monitor).status_code == (202 if quirk else 200)
    assert _version(node, BIOS) == "1.0.0"
    # Written and waiting: another update is accepted meanwhile.
    _update(node, url, NIC)
    session.post(node["url"] + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "ForceRestart"})
    wait_until(lambda: _version(node, BIOS) == "1.5.0")
    final = wait_until(lambda: (r := session.get(monitor)).status_code == 200 and r.json())
    assert final["TaskState"] == "Completed"


# -- the monitor answers 404 at first ----------------------------------------------------------

@pytest.mark.parametrize("quirk", [True, False])
def test_a_new_task_is_not_found_for_its_first_seconds(
        cluster_factory: Factory, small_bundle_url: Any, quirk: bool) -> None:
    node = _node(cluster_factory, *(["task-monitor-404-at-first=2"] if quirk else []))
    session = http(node)
    response = _update(node, small_bundle_url[0], NIC)
    monitor = node["url"] + response.headers["Location"]
    first = session.get(monitor)
    listed = session.get(node["url"] + TASKS).json()["Members"]
    if quirk:
        assert first.status_code == 404
        assert first.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(
            "ResourceNotFound")
        assert session.get(node["url"] + f"{TASKS}/1").status_code == 404
        assert listed == []
        wait_until(lambda: session.get(monitor).status_code in (200, 202), timeout_s=10)
        assert session.get(node["url"] + TASKS).json()["Members"] == [
            {"@odata.id": f"{TASKS}/1"}]
    else:
        assert first.status_code in (200, 202)
        assert listed == [{"@odata.id": f"{TASKS}/1"}]


# -- tasks lost when the BMC restarts ----------------------------------------------------------

@pytest.mark.parametrize("quirk", [True, False])
def test_tasks_are_gone_after_the_bmc_restarts(
        cluster_factory: Factory, small_bundle_url: Any, quirk: bool) -> None:
    node = _node(cluster_factory, *(["task-lost-on-bmc-restart"] if quirk else []))
    session = http(node)
    monitor = node["url"] + _update(node, small_bundle_url[0], MANAGER).headers["Location"]
    wait_until(lambda: session.get(monitor).status_code == 200)  # read finished: it restarts
    wait_until(lambda: refuses_connections(node["url"]), timeout_s=10)
    wait_until(lambda: versions(node)["BMC"] == "2.0.0", timeout_s=20)
    after = session.get(monitor)
    members = session.get(node["url"] + TASKS).json()["Members"]
    if quirk:
        assert after.status_code == 404 and members == []
    else:
        assert after.status_code == 200 and after.json()["TaskState"] == "Completed"
        assert members == [{"@odata.id": f"{TASKS}/1"}]


# -- the update moves to a Job -----------------------------------------------------------------

@pytest.mark.parametrize("quirk", [True, False])
def test_the_update_moves_to_a_job(cluster_factory: Factory, small_bundle_url: Any,
                                   quirk: bool) -> None:
    node = _node(cluster_factory, *(["job-instead-of-task"] if quirk else []))
    session = http(node)
    base = node["url"]
    response = _update(node, small_bundle_url[0], NIC)
    task = wait_until(lambda: (r := session.get(base + response.headers["Location"]))
                      .status_code == 200 and r.json())
    root = session.get(base + "/redfish/v1").json()
    if not quirk:
        assert "JobService" not in root
        assert session.get(base + "/redfish/v1/JobService").status_code == 404
        assert not any("OperationTransitionedToJob" in m["MessageId"] for m in task["Messages"])
        return
    assert root["JobService"] == {"@odata.id": "/redfish/v1/JobService"}
    (moved,) = [m for m in task["Messages"] if m["MessageId"].endswith(
        ".OperationTransitionedToJob")]
    assert task["TaskState"] == "Completed"
    job_uri = moved["MessageArgs"][0]
    assert job_uri == "/redfish/v1/JobService/Jobs/1"
    service = session.get(base + "/redfish/v1/JobService").json()
    assert service["@odata.type"].startswith("#JobService.")
    jobs = session.get(base + service["Jobs"]["@odata.id"]).json()
    assert jobs["Members"] == [{"@odata.id": job_uri}]
    job = wait_until(lambda: (body := session.get(base + job_uri).json())["JobState"]
                     == "Completed" and body)
    assert job["@odata.type"].startswith("#Job.") and job["JobStatus"] == "OK"
    assert job["PercentComplete"] == 100 and "TaskState" not in job
    assert any(m["MessageId"].endswith(".UpdateSuccessful") for m in job["Messages"])
    assert versions(node)["NIC"] == "7.1"
