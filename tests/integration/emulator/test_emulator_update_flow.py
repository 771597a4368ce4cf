"""SimpleUpdate and multipart push driven through sushy and plain HTTP: the task life
cycle, versions changing only when a flash completes, BMC restarts, apply times."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import sushy

from emulator.audit import read_audit_log
from tests.integration.emulator.conftest import (
    http,
    make_nodes,
    refuses_connections,
    simple_update,
    sushy_client,
    versions,
    wait_until,
)


def _monitor_until_done(monitor: Any) -> list[str]:
    """Follow a sushy TaskMonitor to the end; returns the TaskStates seen."""
    seen = []
    while monitor.check_is_processing:
        if monitor.task is not None:
            seen.append(monitor.task.task_state)
        time.sleep(0.02)
    return seen


def test_simple_update_runs_a_real_task_and_changes_versions_only_at_the_end(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    url, served, path = small_bundle_url
    client = sushy_client(node)
    update_service = client.get_update_service()
    assert versions(node) == {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "7.0"}

    monitor = update_service.simple_update(url, targets=["/redfish/v1/Systems/1"])
    # While the task runs the monitor answers 202 and versions have not moved.
    response = http(node).get(node["url"] + "/redfish/v1/TaskService/TaskMonitors/1")
    assert response.status_code == 202 and response.headers["Retry-After"]
    assert versions(node)["NIC"] == "7.0"
    percents = set()
    while monitor.check_is_processing:
        percents.add(monitor.task.percent_complete if monitor.task else None)
        time.sleep(0.01)
    task = http(node).get(node["url"] + "/redfish/v1/TaskService/Tasks/1").json()
    assert task["TaskState"] == "Completed"
    assert task["PercentComplete"] == 100
    assert len({p for p in percents if p is not None}) >= 2  # progress moved
    ids = [m["MessageId"].split(".")[-1] for m in task["Messages"]]
    assert "TransferringToComponent" in ids and "VerifyingAtComponent" in ids
    assert "ApplyingOnComponent" in ids and "UpdateSuccessful" in ids
    # Systems target = host components; BIOS needs the new BMC, so only NIC applied.
    assert versions(node) == {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "7.1"}
    assert "UpdateSkipped" in ids  # the BIOS package, blocked by its BMC dependency
    # Only the manifest and the NIC payload were fetched, never the whole image.
    assert path.stat().st_size > 4 << 20
    assert served.bytes_sent < 1 << 20
    events = [e["event"] for e in read_audit_log(cluster.audit_log_path)]
    assert events.count("flash_start") == 1 and events.count("flash_end") == 1


def test_bmc_package_restarts_the_bmc_and_it_returns_with_the_new_version(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    url, _served, _path = small_bundle_url
    update_service = sushy_client(node).get_update_service()
    monitor = update_service.simple_update(url, targets=["/redfish/v1/Managers/1"])
    states = _monitor_until_done(monitor)
    assert states and {str(s.value) for s in states} <= {"New", "Running"}
    # The BMC restarts: its port refuses connections, then it comes back.
    wait_until(lambda: refuses_connections(node["url"]), timeout_s=10)
    wait_until(lambda: versions(node)["BMC"] == "2.0.0", timeout_s=20)
    task = http(node).get(node["url"] + "/redfish/v1/TaskService/Tasks/1").json()
    assert task["TaskState"] == "Completed"
    manager = http(node).get(node["url"] + "/redfish/v1/Managers/1").json()
    assert manager["FirmwareVersion"] == "2.0.0"
    records = list(read_audit_log(cluster.audit_log_path))
    restart = [r for r in records if r["event"] == "bmc_restart"]
    end = [r for r in records if r["event"] == "flash_end"]
    assert restart and end[0]["component"] == "BMC"
    assert end[0]["from_version"] == "1.0.0" and end[0]["to_version"] == "2.0.0"
    assert restart[0]["ts"] <= end[0]["ts"]


def test_on_reset_bios_waits_for_a_host_reset(
    cluster_factory: Any, small_bundle_url: Any
) -> None:
    cluster = cluster_factory(nodes=make_nodes(1, firmware={"BMC": "2.0.0"}))
    node = cluster.inventory[0]
    url, _served, _path = small_bundle_url
    done = simple_update(node, {
        "ImageURI": url, "@Redfish.OperationApplyTime": "OnReset",
        "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/BIOS"]})
    assert done["TaskState"] == "Completed"
    assert any(m["MessageId"].endswith(["Base", "1.22.1.ResetRequired"][1])
               or m["MessageId"].endswith(".ResetRequired") for m in done["Messages"])
    assert versions(node)["BIOS"] == "1.0.0"  # flashed, not yet active
    system = sushy_client(node).get_system("/redfish/v1/Systems/1")
    system.reset_system(sushy.ResetType.FORCE_RESTART)
    wait_until(lambda: versions(node)["BIOS"] == "1.5.0")
    assert http(node).get(node["url"] + "/redfish/v1/Systems/1").json()["BiosVersion"] == "1.5.0"


def test_immediate_bios_update_resets_a_running_host(
    cluster_factory: Any, small_bundle_url: Any
) -> None:
    cluster = cluster_factory(nodes=make_nodes(1, firmware={"BMC": "2.0.0"}))
    node = cluster.inventory[0]
    session = http(node)
    session.post(node["url"] + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "On"})
    wait_until(lambda: session.get(node["url"] + "/redfish/v1/Systems/1").json()["PowerState"]
               == "On")
    url, _served, _path = small_bundle_url
    monitor = sushy_client(node).get_update_service().simple_update(
        url, targets=["/redfish/v1/UpdateService/FirmwareInventory/BIOS"])
    _monitor_until_done(monitor)
    assert versions(node)["BIOS"] == "1.5.0"
    resets = [r for r in read_audit_log(cluster.audit_log_path) if r["event"] == "reset"]
    assert resets and resets[0]["reset_type"] == "ForceRestart"


def test_multipart_push_uploads_the_bundle_and_applies_it(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    _url, _served, path = small_bundle_url
    session = http(node)
    service = session.get(node["url"] + "/redfish/v1/UpdateService").json()
    push_uri = service["MultipartHttpPushUri"]
    with path.open("rb") as image:
        response = session.post(
            node["url"] + push_uri,
            files={
                "UpdateParameters": (None, json.dumps(
                    {"Targets": ["/redfish/v1/UpdateService/FirmwareInventory/NIC"]}),
                    "application/json"),
                "UpdateFile": (path.name, image, "application/octet-stream"),
            },
        )
    assert response.status_code == 202, response.text
    task_uri = response.headers["Location"]
    done = wait_until(lambda: (r := session.get(node["url"] + task_uri)).status_code == 200
                      and r.json())
    assert done["TaskState"] == "Completed"
    assert versions(node)["NIC"] == "7.1"


@pytest.mark.parametrize(
    ("description", "body", "expected_message"),
    [
        ("same version without ForceUpdate is refused",
         {"Targets": ["/redfish/v1/UpdateService/FirmwareInventory/NIC"]},
         "UpdateSkippedSameVersion"),
    ],
)
def test_same_version_is_refused_unless_forced(
    cluster_factory: Any, small_bundle_url: Any, description: str, body: dict[str, Any],
    expected_message: str,
) -> None:
    cluster = cluster_factory(nodes=make_nodes(1, firmware={"NIC": "7.1"}))
    node = cluster.inventory[0]
    url, _served, _path = small_bundle_url

    def run(extra: dict[str, Any]) -> dict[str, Any]:
        return simple_update(node, {"ImageURI": url, **body, **extra})

    refused = run({})
    assert refused["TaskState"] == "Exception", description
    assert any(m["MessageId"].endswith(expected_message) for m in refused["Messages"])
    forced = run({"ForceUpdate": True})
    assert forced["TaskState"] == "Completed"
    assert versions(node)["NIC"] == "7.1"
    flashes = [r for r in read_audit_log(cluster.audit_log_path) if r["event"] == "flash_end"]
    assert len(flashes) == 1 and flashes[0]["from_version"] == "7.1"


def test_downgrade_is_refused(cluster_factory: Any, small_bundle_url: Any) -> None:
    cluster = cluster_factory(nodes=make_nodes(1, firmware={"NIC": "9.0"}))
    node = cluster.inventory[0]
    url, _served, _path = small_bundle_url
    done = simple_update(node, {
        "ImageURI": url, "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/NIC"]})
    assert done["TaskState"] == "Exception"
    assert versions(node)["NIC"] == "9.0"


def test_bundle_signed_with_an_untrusted_key_fails_verification(
    cluster: Any, node: dict[str, str], bundle_factory: Any, http_bundle_server: Any,
    test_keys: Any,
) -> None:
    from firmware_payloads import load_private_key

    path = bundle_factory(key=load_private_key(test_keys.other_private), name="other.iso")
    url = http_bundle_server(path.parent).url(path.name)
    monitor = sushy_client(node).get_update_service().simple_update(url)
    _monitor_until_done(monitor)
    task = http(node).get(node["url"] + "/redfish/v1/TaskService/Tasks/1").json()
    assert task["TaskState"] == "Exception" and task["TaskStatus"] == "Critical"
    assert any(m["MessageId"].endswith("VerificationFailed") for m in task["Messages"])
    assert versions(node) == {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "7.0"}


def test_bundle_for_other_models_is_not_applicable(
    cluster_factory: Any, small_bundle_url: Any
) -> None:
    cluster = cluster_factory(nodes=1, models=["FF-2U-R750"])
    node = cluster.inventory[0]
    url, _served, _path = small_bundle_url
    done = simple_update(node, {"ImageURI": url})
    assert done["TaskState"] == "Exception"
    assert any(m["MessageId"].endswith("UpdateNotApplicable") for m in done["Messages"])


def test_image_url_that_does_not_exist_fails_the_transfer(
    cluster: Any, node: dict[str, str], small_bundle_url: Any
) -> None:
    url, _served, _path = small_bundle_url
    done = simple_update(node, {"ImageURI": url.replace("bundle.iso", "missing.iso")})
    assert done["TaskState"] == "Exception"
    assert any(m["MessageId"].endswith("TransferFailed") for m in done["Messages"])


def test_firmware_inventory_through_sushy(node: dict[str, str]) -> None:
    inventory = sushy_client(node).get_update_service().firmware_inventory
    members = {member.identity: member.version for member in inventory.get_members()}
    assert members == {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "7.0"}
    assert all(member.updateable for member in inventory.get_members())


def test_manager_reset_through_sushy_restarts_the_bmc(
    cluster: Any, node: dict[str, str]
) -> None:
    manager = sushy_client(node).get_manager("/redfish/v1/Managers/1")
    manager.reset_manager(sushy.ResetType.GRACEFUL_RESTART)
    wait_until(lambda: refuses_connections(node["url"]))
    wait_until(lambda: requests.get(node["url"] + "/redfish/v1", timeout=2).status_code == 200)
    restarts = [r for r in read_audit_log(cluster.audit_log_path) if r["event"] == "bmc_restart"]
    assert len(restarts) == 1
