"""Update-request and inventory quirks (emulator/quirks.py) over real HTTP: each behaves
as docs/interop.md says with the quirk on, and the BMC is clean with it off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulator.cluster import EmulatedCluster
from emulator.quirks import parse_quirks
from tests.integration.emulator.conftest import (
    SIMPLE_UPDATE,
    http,
    make_nodes,
    versions,
    wait_until,
)

SERVICE = "/redfish/v1/UpdateService"
INVENTORY = f"{SERVICE}/FirmwareInventory"
Start = Callable[..., EmulatedCluster]


def _node(cluster_factory: Start, *quirks: str) -> tuple[EmulatedCluster, dict[str, str]]:
    cluster = cluster_factory(nodes=make_nodes(1, quirks=parse_quirks(quirks)))
    return cluster, cluster.inventory[0]


def _post(node: dict[str, str], body: dict[str, Any]) -> Any:
    return http(node).post(node["url"] + SIMPLE_UPDATE, json=body)


def _finish(node: dict[str, str], response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    session = http(node)
    monitor = node["url"] + response.headers["Location"]
    done: dict[str, Any] = wait_until(
        lambda: (r := session.get(monitor)).status_code == 200 and r.json())
    return done


def _error_ids(response: Any) -> list[str]:
    return [m["MessageId"] for m in response.json()["error"]["@Message.ExtendedInfo"]]


def _nic_update(url: str, **extra: Any) -> dict[str, Any]:
    return {"ImageURI": url, "TransferProtocol": "HTTP",
            "Targets": [f"{INVENTORY}/NIC"], **extra}


@pytest.mark.parametrize(("quirk", "parameter"), [
    ("simpleupdate-needs-transferprotocol", "TransferProtocol"),
    ("simpleupdate-needs-targets", "Targets"),
])
@pytest.mark.parametrize("on", [True, False])
def test_simple_update_parameter_required(cluster_factory: Start, small_bundle_url: Any,
                                          quirk: str, parameter: str, on: bool) -> None:
    _cluster, node = _node(cluster_factory, *([quirk] if on else []))
    url = small_bundle_url[0]
    body = {k: v for k, v in _nic_update(url).items() if k != parameter}
    if parameter == "Targets":
        body["ImageURI"] = url  # everything the image offers
    response = _post(node, body)
    if on:
        assert response.status_code == 400
        (message_id,) = _error_ids(response)
        assert message_id.endswith("ActionParameterMissing")
        assert parameter in response.json()["error"]["@Message.ExtendedInfo"][0]["Message"]
        # With the parameter (an empty Targets list counts) the same request is taken.
        body[parameter] = [f"{INVENTORY}/NIC"] if parameter == "Targets" else "HTTP"
        response = _post(node, body)
    assert _finish(node, response)["TaskState"] == "Completed"


@pytest.mark.parametrize("on", [True, False])
def test_no_multipart_push(cluster_factory: Start, on: bool) -> None:
    _cluster, node = _node(cluster_factory, *(["no-multipart-push"] if on else []))
    service = http(node).get(node["url"] + SERVICE).json()
    assert ("MultipartHttpPushUri" in service) is not on
    assert "UpdateService.SimpleUpdate" in str(service["Actions"])
    pushed = http(node).post(node["url"] + f"{SERVICE}/upload",
                             files={"UpdateFile": ("x.iso", b"not an image")})
    assert pushed.status_code == (404 if on else 202), pushed.text


@pytest.mark.parametrize("on", [True, False])
def test_http_push_only(cluster_factory: Start, small_bundle_url: Any, on: bool) -> None:
    """HttpPushUri: targets and apply time PATCHed on the UpdateService, then the image
    as the raw POST body; the BMC applies it to those targets only."""
    _cluster, node = _node(cluster_factory, *(["http-push-only"] if on else []))
    session, base = http(node), node["url"]
    service = session.get(base + SERVICE).json()
    assert ("MultipartHttpPushUri" in service) is not on
    assert ("HttpPushUri" in service) is on
    assert "UpdateService.SimpleUpdate" in str(service["Actions"])
    settings = {"HttpPushUriTargets": [f"{INVENTORY}/NIC"], "HttpPushUriTargetsBusy": True,
                "HttpPushUriOptions": {"HttpPushUriApplyTime": {"ApplyTime": "Immediate"}}}
    patched = session.patch(base + SERVICE, json=settings)
    image = small_bundle_url[2].read_bytes()
    pushed = session.post(base + f"{SERVICE}/update", data=image,
                          headers={"Content-Type": "application/octet-stream"})
    if not on:
        assert patched.status_code == 405 and pushed.status_code == 404
        return
    assert patched.status_code == 204, patched.text
    shown = session.get(base + SERVICE).json()
    assert shown["HttpPushUriTargets"] == [f"{INVENTORY}/NIC"]
    assert shown["HttpPushUriTargetsBusy"] is True
    assert shown["HttpPushUriOptions"]["HttpPushUriApplyTime"]["ApplyTime"] == "Immediate"
    assert _finish(node, pushed)["TaskState"] == "Completed"
    assert versions(node)["NIC"] == "7.1" and versions(node)["BIOS"] == "1.0.0"
    # The multipart push is not there; a bad setting is refused by name.
    assert session.post(base + f"{SERVICE}/upload",
                        files={"UpdateFile": ("x.iso", b"x")}).status_code == 404
    bad = session.patch(base + SERVICE, json={"HttpPushUriTargets": ["/redfish/v1/nope"]})
    assert bad.status_code == 400 and "/redfish/v1/nope" in bad.text
    unknown = session.patch(base + SERVICE, json={"ServiceEnabled": False})
    assert unknown.status_code == 400 and "ServiceEnabled" in unknown.text


@pytest.mark.parametrize("on", [True, False])
def test_one_update_at_a_time(cluster_factory: Start, small_bundle_url: Any, on: bool) -> None:
    cluster, node = _node(cluster_factory, *(["one-update-at-a-time"] if on else []))
    bmc = cluster.bmcs[0]
    bmc.faults.set("task_hangs")
    first = _post(node, _nic_update(small_bundle_url[0]))
    assert first.status_code == 202
    wait_until(lambda: bmc.tasks.running())
    second = _post(node, _nic_update(small_bundle_url[0]))
    if on:
        assert second.status_code == 503 and second.headers["Retry-After"] == "1"
        assert _error_ids(second)[0].endswith("ServiceTemporarilyUnavailable")
    else:
        assert second.status_code == 409 and "Retry-After" not in second.headers
    bmc.faults.clear("task_hangs")
    assert _finish(node, first)["TaskState"] == "Completed"


@pytest.mark.parametrize(("quirk", "status", "message"), [
    ("transient-500-sys518", 500, "SYS518"),
    ("transient-400-system-state", 400, "iLO.2.14.InvalidOperationForSystemState"),
])
@pytest.mark.parametrize("on", [True, False])
def test_transient_refusals_then_success(cluster_factory: Start, small_bundle_url: Any,
                                         quirk: str, status: int, message: str,
                                         on: bool) -> None:
    cluster, node = _node(cluster_factory, *([f"{quirk}=2"] if on else []))
    body = _nic_update(small_bundle_url[0])
    for _ in range(2 if on else 0):
        refused = _post(node, body)
        assert refused.status_code == status
        assert any(message in m for m in _error_ids(refused)), refused.text
    assert _finish(node, _post(node, body))["TaskState"] == "Completed"
    assert versions(node)["NIC"] == "7.1"
    assert len(cluster.audit.records(event="flash_start")) == 1  # refusals flash nothing


def test_inventory_ids_embed_version(cluster_factory: Start, small_bundle_url: Any) -> None:
    cluster, node = _node(cluster_factory, "inventory-ids-embed-version")
    session = http(node)

    def members() -> dict[str, dict[str, Any]]:
        listed = session.get(node["url"] + INVENTORY).json()["Members"]
        return {m["@odata.id"].rsplit("/", 1)[1]: session.get(node["url"] + m["@odata.id"])
                .json() for m in listed}

    before = members()
    assert all(i.startswith("Installed-") for i in before)
    nic_id, nic = next((i, m) for i, m in before.items() if m["Name"] == "NIC")
    assert nic_id.endswith("-7.0") and nic["Version"] == "7.0" and nic["Updateable"]
    done = _finish(node, _post(node, {"ImageURI": small_bundle_url[0],
                                      "Targets": [f"{INVENTORY}/{nic_id}"]}))
    assert done["TaskState"] == "Completed"
    after = members()
    assert nic_id not in after
    assert session.get(node["url"] + f"{INVENTORY}/{nic_id}").status_code == 404
    new_id = nic_id.replace("-7.0", "-7.1")
    assert after[new_id]["Version"] == "7.1" and after[new_id]["SoftwareId"] == nic["SoftwareId"]
    previous = after[new_id.replace("Installed-", "Previous-").replace("-7.1", "-7.0")]
    assert previous["Version"] == "7.0" and previous["Updateable"] is False
    assert previous["Status"]["State"] == "StandbyOffline"
    # A Target naming the old Id is refused: the Id is no identity.
    stale = _post(node, {"ImageURI": small_bundle_url[0], "Targets": [f"{INVENTORY}/{nic_id}"]})
    assert stale.status_code == 400
    assert len(cluster.audit.records(event="flash_start")) == 1


def test_inventory_ids_clean_twin(cluster_factory: Start) -> None:
    _cluster, node = _node(cluster_factory)
    assert set(versions(node)) == {"BMC", "BIOS", "NIC"}


@pytest.mark.parametrize("on", [True, False])
def test_inventory_lists_staged_image(cluster_factory: Start, on: bool) -> None:
    _cluster, node = _node(cluster_factory, *(["inventory-lists-staged-image"] if on else []))
    session = http(node)
    listed = [m["@odata.id"] for m in
              session.get(node["url"] + INVENTORY).json()["Members"]]
    bodies = [session.get(node["url"] + uri).json() for uri in listed]
    inactive = [b for b in bodies if b["Status"]["State"] != "Enabled"]
    if not on:
        assert not inactive and len(bodies) == 3
        return
    (extra,) = inactive
    assert extra["Status"]["State"] == "Disabled" and extra["Updateable"] is False
    running_bmc = next(b for b in bodies if b["Id"] == "BMC")
    assert extra["SoftwareId"] == running_bmc["SoftwareId"]
    assert extra["Version"] != running_bmc["Version"]


@pytest.mark.parametrize("quirk", ["staged-until-host-reset",
                                   "staged-silently-until-host-reset"])
@pytest.mark.parametrize("on", [True, False])
def test_staged_until_host_reset(cluster_factory: Start, small_bundle_url: Any,
                                 quirk: str, on: bool) -> None:
    cluster, node = _node(cluster_factory, *([quirk] if on else []))
    bmc = cluster.bmcs[0]
    bmc.reset_host("On")
    wait_until(lambda: bmc.power_state() == "On")
    done = _finish(node, _post(node, _nic_update(small_bundle_url[0],
                                                 **{"@Redfish.OperationApplyTime":
                                                    "Immediate"})))
    assert done["TaskState"] == "Completed"
    said = [m["MessageId"].rsplit(".", 1)[1] for m in done["Messages"]]
    if not on:
        assert versions(node)["NIC"] == "7.1" and "AwaitToActivate" not in said
        return
    # The silent twin gives no hint at all: a completed task, the old version.
    assert ("AwaitToActivate" in said) is (quirk == "staged-until-host-reset")
    assert "ResetRequired" not in said
    assert versions(node)["NIC"] == "7.0"  # not before the host resets
    http(node).post(node["url"] + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                    json={"ResetType": "ForceRestart"})
    wait_until(lambda: versions(node)["NIC"] == "7.1")


@pytest.mark.parametrize("on", [True, False])
def test_no_firmware_inventory(cluster_factory: Start, on: bool) -> None:
    _cluster, node = _node(cluster_factory, *(["no-firmware-inventory"] if on else []))
    session = http(node)
    service = session.get(node["url"] + SERVICE).json()
    assert service["FirmwareInventory"]["@odata.id"] == INVENTORY  # linked (sushy-tools)
    answer = session.get(node["url"] + INVENTORY)
    assert answer.status_code == (404 if on else 200)
    assert session.get(node["url"] + "/redfish/v1/Systems/1").json()["BiosVersion"] == "1.0.0"


@pytest.mark.parametrize("on", [True, False])
def test_reshaped_by_bmc_update(cluster_factory: Start, on: bool) -> None:
    """The BMC's own update (its restart into new firmware) moves the virtual CD to the
    System, renames the FirmwareInventory members and drops multipart push; off, the
    shape stays as it was."""
    cluster, node = _node(cluster_factory, *(["reshaped-by-bmc-update"] if on else []))
    bmc = cluster.bmcs[0]
    url = node["url"]

    def shape() -> tuple[bool, bool, list[str]]:
        session = http(node)
        manager = session.get(url + "/redfish/v1/Managers/1").json()
        service = session.get(url + SERVICE).json()
        members = [m["@odata.id"].rsplit("/", 1)[1]
                   for m in session.get(url + INVENTORY).json()["Members"]]
        return "VirtualMedia" in manager, "MultipartHttpPushUri" in service, members

    before = shape()
    assert before[:2] == (True, True) and "BMC" in before[2]
    bmc.restart_bmc("BMC firmware update", on_back=lambda: bmc.activate_bmc_firmware("9.9", None))
    wait_until(lambda: not bmc.manager_restarting)
    after = wait_until(lambda: shape())
    reshaped = cluster.audit.records(event="bmc_reshaped")
    if not on:
        assert after == before and not reshaped
        return
    assert after[:2] == (False, False)
    assert all(m.startswith(("Installed-", "Previous-")) for m in after[2]), after
    assert http(node).get(url + "/redfish/v1/Systems/1/VirtualMedia/CD").status_code == 200
    assert [r["version"] for r in reshaped] == ["9.9"]
