"""Accounts like a real BMC's: sessions end with the credentials they came from,
failed logins lock an account (visible in Locked), idle sessions time out,
and a refused PATCH names the property and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.emulator.conftest import http, wait_until

ACCOUNTS = "/redfish/v1/AccountService/Accounts"
SESSIONS = "/redfish/v1/SessionService/Sessions"


def _login(base: str, username: str, password: str) -> requests.Response:
    return requests.post(base + SESSIONS, json={"UserName": username, "Password": password},
                         timeout=10)


def _token_works(base: str, token: str) -> bool:
    response = requests.get(base + "/redfish/v1/Systems/1", headers={"X-Auth-Token": token},
                            timeout=10)
    return response.status_code == 200


def _new_account(admin: requests.Session, base: str, name: str, role: str = "Operator") -> str:
    created = admin.post(base + ACCOUNTS, json={"UserName": name, "Password": "first-pass-1",
                                                "RoleId": role})
    assert created.status_code == 201
    return str(created.headers["Location"])


@pytest.mark.parametrize("change", [
    {"Password": "second-pass-2"}, {"RoleId": "ReadOnly"}, {"Enabled": False}, None,
])
def test_sessions_end_when_the_account_changes_or_goes(
    node: dict[str, str], change: dict[str, Any] | None
) -> None:
    admin, base = http(node), node["url"]
    uri = _new_account(admin, base, "operator1")
    token = _login(base, "operator1", "first-pass-1").headers["X-Auth-Token"]
    other = _login(base, node["username"], node["password"]).headers["X-Auth-Token"]
    assert _token_works(base, token)
    if change is None:
        assert admin.delete(base + uri).status_code == 204
    else:
        assert admin.patch(base + uri, json=change).status_code == 200
    assert not _token_works(base, token)
    assert _token_works(base, other)  # nobody else is logged out
    names = [admin.get(base + m["@odata.id"]).json()["UserName"]
             for m in admin.get(base + SESSIONS).json()["Members"]]
    assert names == [node["username"]]


def test_failed_logins_lock_the_account_until_the_duration_passes(node: dict[str, str]) -> None:
    admin, base = http(node), node["url"]
    policy = admin.patch(base + "/redfish/v1/AccountService",
                         json={"AccountLockoutThreshold": 3, "AccountLockoutDuration": 2,
                               "AccountLockoutCounterResetAfter": 2})
    assert policy.status_code == 200 and policy.json()["AccountLockoutThreshold"] == 3
    uri = _new_account(admin, base, "clumsy")
    for _ in range(3):
        assert _login(base, "clumsy", "wrong-password").status_code == 401
    assert admin.get(base + uri).json()["Locked"] is True
    # Locked: even the right password is refused, over Basic auth too.
    assert _login(base, "clumsy", "first-pass-1").status_code == 401
    assert requests.get(base + "/redfish/v1/Systems/1", auth=("clumsy", "first-pass-1"),
                        timeout=10).status_code == 401
    wait_until(lambda: admin.get(base + uri).json()["Locked"] is False)
    assert _login(base, "clumsy", "first-pass-1").status_code == 201


def test_an_administrator_unlocks_an_account(node: dict[str, str]) -> None:
    admin, base = http(node), node["url"]
    admin.patch(base + "/redfish/v1/AccountService",
                json={"AccountLockoutThreshold": 2, "AccountLockoutDuration": 0})
    uri = _new_account(admin, base, "locked1")
    for _ in range(2):
        _login(base, "locked1", "wrong-password")
    assert admin.get(base + uri).json()["Locked"] is True
    refused = admin.patch(base + uri, json={"Locked": True})
    assert refused.status_code == 400
    assert admin.patch(base + uri, json={"Locked": False}).json()["Locked"] is False
    assert _login(base, "locked1", "first-pass-1").status_code == 201


def test_an_idle_session_times_out(cluster_factory: Any) -> None:
    cluster = cluster_factory(session_timeout_seconds=0.5)
    node = cluster.inventory[0]
    base = node["url"]
    token = _login(base, node["username"], node["password"]).headers["X-Auth-Token"]
    assert _token_works(base, token)
    # Watched with Basic auth: using the token would keep the session alive.
    wait_until(lambda: http(node).get(base + SESSIONS).json()["Members"] == [])
    assert not _token_works(base, token)


def _refusal(response: requests.Response) -> tuple[int, str, list[str]]:
    info = response.json()["error"]["@Message.ExtendedInfo"][0]
    return response.status_code, info["MessageId"].rsplit(".", 1)[1], info["MessageArgs"]


@pytest.mark.parametrize(("body", "message_id", "named"), [
    ({"RoleId": "ReadOnly", "UserName": "renamed"}, "PropertyNotWritable", "UserName"),
    ({"RoleId": "ReadOnly", "Colour": "blue"}, "PropertyUnknown", "Colour"),
    ({"RoleId": "ReadOnly", "Enabled": "no"}, "PropertyValueTypeError", "Enabled"),
    ({"RoleId": "ReadOnly", "Password": "short"}, "PropertyValueFormatError", "Password"),
])
def test_a_refused_account_patch_changes_nothing(
    node: dict[str, str], body: dict[str, Any], message_id: str, named: str
) -> None:
    admin, base = http(node), node["url"]
    uri = _new_account(admin, base, "steady")
    token = _login(base, "steady", "first-pass-1").headers["X-Auth-Token"]
    status, got, args = _refusal(admin.patch(base + uri, json=body))
    assert (status, got) == (400, message_id) and named in args
    account = admin.get(base + uri).json()
    assert (account["RoleId"], account["UserName"], account["Enabled"]) == (
        "Operator", "steady", True)
    assert _token_works(base, token)  # and the session lives on
    assert _login(base, "steady", "first-pass-1").status_code == 201


def test_lockout_policy_refuses_bad_values(node: dict[str, str]) -> None:
    admin, base = http(node), node["url"]
    service = base + "/redfish/v1/AccountService"
    before = admin.get(service).json()
    bad = admin.patch(service, json={"AccountLockoutThreshold": -1})
    assert _refusal(bad)[:3] == (400, "PropertyValueOutOfRange", ["-1", "AccountLockoutThreshold"])
    assert _refusal(admin.patch(service, json={"MinPasswordLength": 4}))[1:] == (
        "PropertyNotWritable", ["MinPasswordLength"])
    assert admin.get(service).json()["AccountLockoutThreshold"] == before[
        "AccountLockoutThreshold"]
