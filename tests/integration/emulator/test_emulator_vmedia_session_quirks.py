"""Virtual-media, ETag and session quirks (emulator/quirks.py) over real HTTP: each one
behaves as the vendor does (docs/interop.md, "Vendor quirks"), and the same request
on a BMC without it gets today's clean behaviour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from emulator.audit import read_audit_log
from emulator.cluster import EmulatedCluster
from emulator.quirks import parse_quirks
from tests.integration.emulator.conftest import http, make_nodes, wait_until
from tests.integration.emulator.test_emulator_restart_after_task import refuses_connections

IMAGE = "http://127.0.0.1:9/update.iso"
MANAGER_CD = "/redfish/v1/Managers/1/VirtualMedia/CD"
SYSTEM_CD = "/redfish/v1/Systems/1/VirtualMedia/CD"
INSERT = "/Actions/VirtualMedia.InsertMedia"
EJECT = "/Actions/VirtualMedia.EjectMedia"


def _node(cluster_factory: Callable[..., EmulatedCluster], quirk: str, on: bool
          ) -> tuple[EmulatedCluster, dict[str, str], requests.Session]:
    """A BMC with ``quirk`` (``on``) or none, and a Basic-auth session to it."""
    cluster = cluster_factory(nodes=make_nodes(1, quirks=parse_quirks([quirk] if on else [])))
    node = cluster.inventory[0]
    return cluster, node, http(node)


def _inserted(session: requests.Session, node: dict[str, str]) -> bool:
    """Insert IMAGE in the Manager's CD; then whether the slot reads Inserted."""
    assert session.post(node["url"] + MANAGER_CD + INSERT,
                        json={"Image": IMAGE}).status_code == 204
    return bool(session.get(node["url"] + MANAGER_CD).json()["Inserted"])


def _message(response: requests.Response) -> tuple[str, list[str]]:
    info = response.json()["error"]["@Message.ExtendedInfo"][0]
    return info["MessageId"].split(".")[-1], info.get("MessageArgs", [])


def _base(response: requests.Response) -> str:
    return str(response.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"])


@pytest.mark.parametrize("on", [True, False])
def test_vmedia_under_systems(cluster_factory: Any, on: bool) -> None:
    _c, node, session = _node(cluster_factory, "vmedia-under-systems", on)
    url = node["url"]
    manager = session.get(url + "/redfish/v1/Managers/1").json()
    assert ("VirtualMedia" in manager) is not on
    assert session.get(url + MANAGER_CD).status_code == (404 if on else 200)
    assert session.post(url + MANAGER_CD + INSERT, json={"Image": IMAGE}).status_code == (
        404 if on else 204)
    assert session.get(url + SYSTEM_CD).status_code == 200


@pytest.mark.parametrize("on", [True, False])
def test_vmedia_insert_needs_inserted(cluster_factory: Any, on: bool) -> None:
    cluster, node, session = _node(cluster_factory, "vmedia-insert-needs-inserted", on)
    target = node["url"] + MANAGER_CD + INSERT
    plain = session.post(target, json={"Image": IMAGE})
    if not on:
        assert plain.status_code == 204
        return
    assert plain.status_code == 400
    assert _message(plain) == ("ActionParameterMissing", ["VirtualMedia.InsertMedia", "Inserted"])
    assert _base(plain).startswith("Base.")
    assert session.get(node["url"] + MANAGER_CD).json()["Inserted"] is False
    assert session.post(target, json={"Image": IMAGE, "Inserted": True}).status_code == 204
    assert session.get(node["url"] + MANAGER_CD).json()["Image"] == IMAGE
    assert cluster.bmc(node["id"]).media.inserted


@pytest.mark.parametrize("payload_quirk", ["", "vmedia-insert-needs-inserted",
                                           "vmedia-insert-rejects-inserted-writeprotected"])
@pytest.mark.parametrize("on", [True, False])
def test_vmedia_insert_action_info(cluster_factory: Any, on: bool, payload_quirk: str) -> None:
    """InsertMedia's ActionInfo, under Managers and Systems alike, tells the parameters
    the BMC's payload quirks want: what it says is what the insert then accepts."""
    quirks = [q for q in (payload_quirk, "vmedia-insert-action-info" if on else "") if q]
    cluster = cluster_factory(nodes=make_nodes(1, quirks=parse_quirks(quirks)))
    node = cluster.inventory[0]
    session = http(node)
    for cd in (MANAGER_CD, SYSTEM_CD):
        action = session.get(node["url"] + cd).json()["Actions"]["#VirtualMedia.InsertMedia"]
        info_uri = action.get("@Redfish.ActionInfo")
        answer = session.get(node["url"] + cd + "/InsertMediaActionInfo")
        if not on:
            assert info_uri is None and answer.status_code == 404
            continue
        assert info_uri == cd + "/InsertMediaActionInfo" and answer.status_code == 200
        info = answer.json()
        assert info["@odata.type"].startswith("#ActionInfo.")
        parameters = {p["Name"]: p for p in info["Parameters"]}
        assert parameters["Image"]["Required"] is True
        assert parameters["TransferProtocolType"]["AllowableValues"] == ["HTTP", "HTTPS"]
        rejects = payload_quirk == "vmedia-insert-rejects-inserted-writeprotected"
        assert ("Inserted" in parameters) is not rejects
        assert ("WriteProtected" in parameters) is not rejects
        if not rejects:
            assert parameters["Inserted"]["Required"] is (
                payload_quirk == "vmedia-insert-needs-inserted")
        # The payload the ActionInfo describes is accepted at once.
        payload = {"Image": IMAGE, **{name: True for name in ("Inserted",)
                                      if parameters.get(name, {}).get("Required")}}
        assert session.post(node["url"] + cd + INSERT, json=payload).status_code == 204
        assert session.post(node["url"] + cd + EJECT, json={}).status_code == 204


@pytest.mark.parametrize("on", [True, False])
def test_vmedia_insert_rejects_inserted_writeprotected(cluster_factory: Any, on: bool) -> None:
    _c, node, session = _node(cluster_factory, "vmedia-insert-rejects-inserted-writeprotected", on)
    target = node["url"] + MANAGER_CD + INSERT
    for extra in ({"Inserted": True}, {"WriteProtected": True}):
        answer = session.post(target, json={"Image": IMAGE, **extra})
        if not on:
            assert answer.status_code == 204
            assert session.post(node["url"] + MANAGER_CD + EJECT, json={}).status_code == 204
            continue
        assert answer.status_code == 400
        assert _message(answer) == ("ActionParameterNotSupported",
                                    [next(iter(extra)), "VirtualMedia.InsertMedia"])
    if on:
        assert session.post(target, json={"Image": IMAGE}).status_code == 204
        assert session.get(node["url"] + MANAGER_CD).json()["Inserted"] is True


@pytest.mark.parametrize("on", [True, False])
def test_vmedia_eject_needs_empty_body(cluster_factory: Any, on: bool) -> None:
    _c, node, session = _node(cluster_factory, "vmedia-eject-needs-empty-body", on)
    url = node["url"]
    assert _inserted(session, node)
    bare = session.post(url + MANAGER_CD + EJECT)  # no body at all
    if not on:
        assert bare.status_code == 204
        assert session.get(url + MANAGER_CD).json()["Inserted"] is False
        return
    assert bare.status_code == 400 and _message(bare)[0] == "MalformedJSON"
    assert session.get(url + MANAGER_CD).json()["Inserted"] is True
    assert session.post(url + MANAGER_CD + EJECT, json={}).status_code == 204
    assert session.get(url + MANAGER_CD).json()["Inserted"] is False


@pytest.mark.parametrize("on", [True, False])
def test_vmedia_stays_inserted_until_ejected_twice(cluster_factory: Any, on: bool) -> None:
    cluster, node, session = _node(cluster_factory, "vmedia-stays-inserted-until-ejected-twice", on)
    url = node["url"]
    assert _inserted(session, node)
    assert session.post(url + MANAGER_CD + EJECT, json={}).status_code == 204
    assert session.get(url + MANAGER_CD).json()["Inserted"] is on
    if on:
        assert session.post(url + MANAGER_CD + EJECT, json={}).status_code == 204
        assert session.get(url + MANAGER_CD).json()["Inserted"] is False
    events = [r["event"] for r in read_audit_log(cluster.audit_log_path)]
    assert events.count("media_eject") == 1
    # Once ejected, the next insert is accepted (the quirk does not stick).
    assert _inserted(session, node)


@pytest.mark.parametrize("on", [True, False])
def test_vmedia_boot_target_usbcd(cluster_factory: Any, on: bool) -> None:
    cluster, node, session = _node(cluster_factory, "vmedia-boot-target-usbcd", on)
    system = node["url"] + "/redfish/v1/Systems/1"
    allowed = session.get(system).json()["Boot"]["BootSourceOverrideTarget@Redfish.AllowableValues"]
    assert ("UsbCd" in allowed, "Cd" in allowed) == ((True, False) if on else (False, True))
    cd = session.patch(system, json={"Boot": {"BootSourceOverrideTarget": "Cd"}})
    if on:
        assert cd.status_code == 400 and _message(cd) == (
            "PropertyValueNotInList", ["Cd", "BootSourceOverrideTarget"])
        usb = session.patch(system, json={"Boot": {"BootSourceOverrideTarget": "UsbCd",
                                                   "BootSourceOverrideEnabled": "Once"}})
        assert usb.status_code in (200, 204)
        assert cluster.bmc(node["id"]).boot.target == "UsbCd"
    else:
        assert cd.status_code in (200, 204)


@pytest.mark.parametrize("on", [True, False])
def test_etag_required_on_patch(cluster_factory: Any, on: bool) -> None:
    _c, node, session = _node(cluster_factory, "etag-required-on-patch", on)
    system = node["url"] + "/redfish/v1/Systems/1"
    body = {"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}
    stale = session.get(system).headers["ETag"]
    bare = session.patch(system, json=body)
    if not on:
        assert bare.status_code in (200, 204)
        return
    assert bare.status_code == 412 and _message(bare)[0] == "PreconditionRequired"
    assert session.get(system).json()["Boot"]["BootSourceOverrideTarget"] == "None"
    assert session.patch(system, json=body, headers={"If-Match": stale}).status_code in (200, 204)
    # The write changed the resource: the ETag read before it is stale now.
    again = session.patch(system, json={"Boot": {"BootSourceOverrideTarget": "None"}},
                          headers={"If-Match": stale})
    assert again.status_code == 412 and _message(again)[0] == "PreconditionFailed"
    assert session.get(system).json()["Boot"]["BootSourceOverrideTarget"] == "Pxe"


def _login(node: dict[str, str]) -> requests.Response:
    return requests.post(node["url"] + "/redfish/v1/SessionService/Sessions", timeout=10,
                         json={"UserName": node["username"], "Password": node["password"]})


@pytest.mark.parametrize("on", [True, False])
def test_session_limit(cluster_factory: Any, on: bool) -> None:
    _c, node, session = _node(cluster_factory, "session-limit=2", on)
    first, second, third = (_login(node) for _ in range(3))
    assert first.status_code == second.status_code == 201
    if not on:
        assert third.status_code == 201
        return
    assert third.status_code == 503 and _message(third)[0] == "SessionLimitExceeded"
    assert _base(third).startswith("Base.")
    # Basic auth still works with a full session table, and a logout frees a place.
    assert session.get(node["url"] + "/redfish/v1/Systems/1").status_code == 200
    assert session.delete(node["url"] + first.headers["Location"]).status_code == 204
    assert _login(node).status_code == 201


@pytest.mark.parametrize("on", [True, False])
def test_sessions_survive_bmc_restart(cluster_factory: Any, on: bool) -> None:
    _c, node, _session = _node(cluster_factory, "sessions-survive-bmc-restart", on)
    headers = {"X-Auth-Token": _login(node).headers["X-Auth-Token"]}
    url = node["url"]
    assert requests.post(url + "/redfish/v1/Managers/1/Actions/Manager.Reset", timeout=10,
                         json={"ResetType": "GracefulRestart"}, headers=headers
                         ).status_code == 204
    wait_until(lambda: refuses_connections(url), timeout_s=10)
    wait_until(lambda: requests.get(url + "/redfish/v1", timeout=2).status_code == 200)
    after = requests.get(url + "/redfish/v1/Systems/1", headers=headers, timeout=10)
    assert after.status_code == (200 if on else 401)
