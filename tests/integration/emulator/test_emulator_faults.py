"""Every fault kind, injected per BMC, and what a Redfish client then sees."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from emulator.audit import read_audit_log
from emulator.firmware.engine import UPDATE_TASK_NAME
from tests.integration.emulator.conftest import (
    http,
    make_nodes,
    refuses_connections,
    versions,
    wait_until,
)

UPDATE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
START = {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "7.0"}


def _update(node: dict[str, str], url: str, **extra: Any) -> str:
    response = http(node).post(node["url"] + UPDATE, json={"ImageURI": url, **extra})
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def _finished(node: dict[str, str], monitor: str) -> dict[str, Any]:
    session = http(node)
    result: dict[str, Any] = wait_until(
        lambda: (r := session.get(node["url"] + monitor)).status_code == 200 and r.json())
    return result


def _message_ids(task: dict[str, Any]) -> list[str]:
    return [m["MessageId"].rsplit(".", 1)[1] for m in task["Messages"]]


@pytest.mark.parametrize(
    ("kind", "message", "audited"),
    [
        ("download_fails", "TransferFailed", ["flash_failed"]),
        ("image_corrupt", "VerificationFailed", ["flash_start", "flash_failed"]),
        ("flash_fails", "ApplyFailed", ["flash_start", "flash_failed"]),
    ],
)
def test_update_faults_end_the_task_in_exception(
    cluster: Any, node: dict[str, str], small_bundle_url: Any, kind: str, message: str,
    audited: list[str],
) -> None:
    url, _served, _path = small_bundle_url
    cluster.faults.set(node["id"], kind)
    task = _finished(node, _update(node, url, Targets=["/redfish/v1/Systems/1"]))
    assert task["TaskState"] == "Exception" and task["TaskStatus"] == "Critical"
    assert message in _message_ids(task)
    assert versions(node) == START
    # Components the Targets left out are audited as flash_skipped (the BMC's log says so).
    events = [r["event"] for r in read_audit_log(cluster.audit_log_path)
              if r["event"] != "flash_skipped"]
    assert events == audited


def test_task_hangs_in_running_until_the_fault_is_cleared(
    cluster_factory: Any, small_bundle_url: Any
) -> None:
    url, _served, _path = small_bundle_url
    cluster = cluster_factory(nodes=make_nodes(2))
    node, twin = cluster.inventory
    cluster.faults.set(node["id"], "task_hangs")
    monitor = _update(node, url, Targets=["/redfish/v1/Systems/1"])
    # The clock: the same update on a healthy twin, started later, runs to its end.
    assert _finished(twin, _update(twin, url, Targets=["/redfish/v1/Systems/1"])
                     )["TaskState"] == "Completed"
    response = http(node).get(node["url"] + monitor)
    assert response.status_code == 202
    assert response.json()["TaskState"] == "Running"
    assert versions(node) == START
    cluster.faults.clear(node["id"], "task_hangs")
    assert _finished(node, monitor)["TaskState"] == "Completed"


def test_unreachable_refuses_connections_until_cleared(
    cluster: Any, node: dict[str, str]
) -> None:
    cluster.faults.set(node["id"], "unreachable")
    with pytest.raises(requests.ConnectionError):
        requests.get(node["url"] + "/redfish/v1", timeout=5)
    cluster.faults.clear(node["id"], "unreachable")
    assert requests.get(node["url"] + "/redfish/v1", timeout=5).status_code == 200


def test_unreachable_timeout_mode_accepts_but_never_answers(
    cluster: Any, node: dict[str, str]
) -> None:
    cluster.faults.set(node["id"], "unreachable", mode="timeout")
    with pytest.raises(requests.ReadTimeout):
        requests.get(node["url"] + "/redfish/v1", timeout=0.5)
    cluster.faults.clear(node["id"])
    assert requests.get(node["url"] + "/redfish/v1", timeout=5).status_code == 200


def test_latency_makes_a_short_client_timeout_expire(cluster: Any, node: dict[str, str]) -> None:
    cluster.faults.set(node["id"], "latency", seconds=3)
    with pytest.raises(requests.ReadTimeout):
        requests.get(node["url"] + "/redfish/v1", timeout=0.3)
    # A patient client still gets its answer.
    cluster.faults.set(node["id"], "latency", seconds=0.2)
    assert requests.get(node["url"] + "/redfish/v1", timeout=10).status_code == 200


def test_service_unavailable_answers_503_with_retry_after(
    cluster: Any, node: dict[str, str]
) -> None:
    cluster.faults.set(node["id"], "service_unavailable", seconds=7, count=2)
    session = http(node)
    for _ in range(2):
        response = session.get(node["url"] + "/redfish/v1/Systems/1")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "7"
        info = response.json()["error"]["@Message.ExtendedInfo"][0]
        assert info["MessageId"].endswith("ServiceTemporarilyUnavailable")
    assert session.get(node["url"] + "/redfish/v1/Systems/1").status_code == 200


def test_version_unchanged_after_reset(cluster_factory: Any, small_bundle_url: Any) -> None:
    cluster = cluster_factory(nodes=make_nodes(1, firmware={"BMC": "2.0.0"}))
    node = cluster.inventory[0]
    url, _served, _path = small_bundle_url
    cluster.faults.set(node["id"], "version_unchanged")
    task = _finished(node, _update(node, url, **{
        "@Redfish.OperationApplyTime": "OnReset",
        "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/BIOS"]}))
    assert task["TaskState"] == "Completed"  # the BMC believes all went well
    http(node).post(node["url"] + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                    json={"ResetType": "ForceRestart"})
    wait_until(lambda: http(node).get(node["url"] + "/redfish/v1/Systems/1").json()
               ["PowerState"] == "On")
    assert versions(node)["BIOS"] == "1.0.0"  # ... but the version did not move
    failed = [r for r in read_audit_log(cluster.audit_log_path) if r["event"] == "flash_failed"]
    assert failed and "version_unchanged" in failed[0]["reason"]


def _reset(node: dict[str, str]) -> str:
    """Power the host on through a reset; the system's URL."""
    system = node["url"] + "/redfish/v1/Systems/1"
    assert http(node).post(system + "/Actions/ComputerSystem.Reset",
                           json={"ResetType": "On"}).status_code == 204
    return system


def test_host_reset_never_comes_back_while_reset_hangs(cluster_factory: Any) -> None:
    cluster = cluster_factory(nodes=make_nodes(2))
    node, twin = cluster.inventory
    cluster.faults.set(node["id"], "reset_hangs")
    session = http(node)
    system = _reset(node)
    # The clock: a healthy twin reset after it has come back On.
    twin_system = _reset(twin)
    wait_until(lambda: http(twin).get(twin_system).json()["PowerState"] == "On")
    assert session.get(system).json()["PowerState"] == "PoweringOn"
    busy = session.post(system + "/Actions/ComputerSystem.Reset", json={"ResetType": "On"})
    assert busy.status_code == 409
    cluster.faults.clear(node["id"], "reset_hangs")
    wait_until(lambda: session.get(system).json()["PowerState"] == "On")


def _restart_bmc(node: dict[str, str]) -> None:
    response = http(node).post(node["url"] + "/redfish/v1/Managers/1/Actions/Manager.Reset",
                               json={"ResetType": "GracefulRestart"})
    assert response.status_code == 204
    wait_until(lambda: refuses_connections(node["url"]))


def test_bmc_restart_never_comes_back_while_reset_hangs(cluster_factory: Any) -> None:
    cluster = cluster_factory(nodes=make_nodes(2))
    node, twin = cluster.inventory
    cluster.faults.set(node["id"], "reset_hangs")
    _restart_bmc(node)
    # The clock: a healthy twin's BMC, restarted later, answers again.
    _restart_bmc(twin)
    wait_until(lambda: requests.get(twin["url"] + "/redfish/v1", timeout=2).status_code == 200)
    assert refuses_connections(node["url"])
    cluster.faults.clear(node["id"])
    wait_until(lambda: requests.get(node["url"] + "/redfish/v1", timeout=2).status_code == 200)


def test_admin_endpoint_sets_and_clears_faults_with_its_own_token(
    cluster: Any, node: dict[str, str]
) -> None:
    target = f"{cluster.admin_url}/faults/{node['id']}/service_unavailable"
    assert requests.put(target, json={"seconds": 3}).status_code == 401
    wrong = requests.put(target, json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    auth = {"Authorization": f"Bearer {cluster.admin_token}"}
    assert requests.put(target, json={"seconds": 3}, headers=auth).json() == {
        "kind": "service_unavailable", "seconds": 3.0}
    assert requests.get(node["url"] + "/redfish/v1").status_code == 503
    bad = requests.put(f"{cluster.admin_url}/faults/{node['id']}/latency",
                       json={"seconds": "soon"}, headers=auth)
    assert bad.status_code == 400 and "seconds" in bad.json()["error"]
    assert requests.put(f"{cluster.admin_url}/faults/nobody/latency", json={},
                        headers=auth).status_code == 404
    assert requests.delete(target, headers=auth).status_code == 200
    assert requests.get(node["url"] + "/redfish/v1").status_code == 200


def test_a_second_update_while_one_runs_is_refused(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    url, _served, _path = small_bundle_url
    cluster.faults.set(node["id"], "task_hangs")
    first = _update(node, url, Targets=["/redfish/v1/Systems/1"])
    second = http(node).post(node["url"] + UPDATE, json={"ImageURI": url})
    assert second.status_code == 409
    assert second.json()["error"]["code"].endswith("ResourceInUse")
    cluster.faults.clear(node["id"])
    assert _finished(node, first)["TaskState"] == "Completed"
    assert http(node).post(node["url"] + UPDATE, json={"ImageURI": url}).status_code == 202


def test_update_answer_slow_starts_the_task_before_it_answers(
        cluster_factory: Any, small_bundle_url: Any) -> None:
    """The request's task runs while its 202 is still on the way: a client that gave up
    (a short timeout) has started an update all the same."""
    cluster = cluster_factory(nodes=make_nodes(1))
    node = cluster.inventory[0]
    url, _served, _path = small_bundle_url
    cluster.faults.set(node["id"], "update_answer_slow", seconds=3, count=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        http(node).post(node["url"] + UPDATE, json={"ImageURI": url}, timeout=1)
    bmc = cluster.bmc(node["id"])
    assert wait_until(lambda: [t for t in bmc.tasks.all() if t.name == UPDATE_TASK_NAME])
    # Cleared after its one hit: once the first has finished, the next is answered at once.
    wait_until(lambda: not bmc.tasks.running())
    assert _finished(node, _update(node, url))["TaskState"] == "Completed"
