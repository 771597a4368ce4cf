"""Authentication (Basic, X-Auth-Token sessions) and the three roles."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.emulator.conftest import http

ACCOUNTS = "/redfish/v1/AccountService/Accounts"
RESET = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"


@pytest.mark.parametrize(
    ("description", "path", "expected"),
    [
        ("service root is public", "/redfish/v1", 200),
        ("service root with slash", "/redfish/v1/", 200),
        ("version document is public", "/redfish", 200),
        ("$metadata is public", "/redfish/v1/$metadata", 200),
        ("odata document is public", "/redfish/v1/odata", 200),
        ("systems need credentials", "/redfish/v1/Systems", 401),
        ("inventory needs credentials", "/redfish/v1/UpdateService/FirmwareInventory", 401),
        ("sessions need credentials", "/redfish/v1/SessionService/Sessions", 401),
    ],
)
def test_anonymous_access(node: dict[str, str], description: str, path: str,
                          expected: int) -> None:
    response = requests.get(node["url"] + path)
    assert response.status_code == expected, description
    if expected == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert response.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(
            "NoValidSession")


@pytest.mark.parametrize(
    ("description", "headers", "auth"),
    [
        ("wrong password", {}, ("admin", "wrong-password")),
        ("unknown user", {}, ("nobody", "whatever1")),
        ("garbage basic header", {"Authorization": "Basic !!!"}, None),
        ("unknown scheme", {"Authorization": "Digest abc"}, None),
        ("forged token", {"X-Auth-Token": "not-a-session"}, None),
    ],
)
def test_bad_credentials_get_401_without_details(
    node: dict[str, str], description: str, headers: dict[str, str], auth: Any
) -> None:
    response = requests.get(node["url"] + "/redfish/v1/Systems/1", headers=headers, auth=auth)
    assert response.status_code == 401, description
    assert node["password"] not in response.text


def test_session_login_use_and_logout(node: dict[str, str]) -> None:
    login = requests.post(node["url"] + "/redfish/v1/SessionService/Sessions",
                          json={"UserName": node["username"], "Password": node["password"]})
    assert login.status_code == 201
    token = login.headers["X-Auth-Token"]
    session_uri = login.headers["Location"]
    headers = {"X-Auth-Token": token}
    system = requests.get(node["url"] + "/redfish/v1/Systems/1", headers=headers)
    assert system.status_code == 200
    assert token not in requests.get(node["url"] + session_uri, headers=headers).text
    assert requests.delete(node["url"] + session_uri, headers=headers).status_code == 204
    assert requests.get(node["url"] + "/redfish/v1/Systems/1",
                        headers=headers).status_code == 401


def test_login_with_a_wrong_password_is_refused(node: dict[str, str]) -> None:
    response = requests.post(node["url"] + "/redfish/v1/SessionService/Sessions",
                             json={"UserName": node["username"], "Password": "wrong-pass"})
    assert response.status_code == 401
    assert "X-Auth-Token" not in response.headers


def _account(node: dict[str, str], name: str, role: str) -> tuple[str, str]:
    password = f"{name}-password-1"
    response = http(node).post(node["url"] + ACCOUNTS,
                               json={"UserName": name, "Password": password, "RoleId": role})
    assert response.status_code == 201
    assert response.headers["Location"].startswith(ACCOUNTS + "/")
    return name, password


@pytest.mark.parametrize(
    ("role", "can_read", "can_reset", "can_manage_users"),
    [
        ("ReadOnly", True, False, False),
        ("Operator", True, True, False),
        ("Administrator", True, True, True),
    ],
)
def test_roles_grant_what_redfish_says(
    node: dict[str, str], role: str, can_read: bool, can_reset: bool, can_manage_users: bool
) -> None:
    auth = _account(node, f"user-{role.lower()}", role)
    base = node["url"]
    read = requests.get(base + "/redfish/v1/Systems/1", auth=auth)
    assert (read.status_code == 200) is can_read
    reset = requests.post(base + RESET, json={"ResetType": "On"}, auth=auth)
    assert reset.status_code == (204 if can_reset else 403)
    create = requests.post(base + ACCOUNTS, auth=auth, json={
        "UserName": f"made-by-{role.lower()}", "Password": "another-pass-1",
        "RoleId": "ReadOnly"})
    assert create.status_code == (201 if can_manage_users else 403)
    if not can_manage_users:
        assert create.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(
            "InsufficientPrivilege")


def test_accounts_never_show_passwords_and_duplicates_are_refused(node: dict[str, str]) -> None:
    name, password = _account(node, "operator1", "Operator")
    listing = http(node).get(node["url"] + ACCOUNTS).json()
    documents = [http(node).get(node["url"] + m["@odata.id"]).json() for m in listing["Members"]]
    assert all(doc["Password"] is None for doc in documents)
    assert password not in str(documents)
    again = http(node).post(node["url"] + ACCOUNTS,
                            json={"UserName": name, "Password": password, "RoleId": "Operator"})
    assert again.status_code == 409


def test_a_user_may_change_only_their_own_password(node: dict[str, str]) -> None:
    auth = _account(node, "reader", "ReadOnly")
    accounts = http(node).get(node["url"] + ACCOUNTS).json()["Members"]
    mine = [m["@odata.id"] for m in accounts
            if http(node).get(node["url"] + m["@odata.id"]).json()["UserName"] == "reader"][0]
    escalate = requests.patch(node["url"] + mine, json={"RoleId": "Administrator"}, auth=auth)
    assert escalate.status_code == 403
    change = requests.patch(node["url"] + mine, json={"Password": "new-secret-22"}, auth=auth)
    assert change.status_code == 200
    assert requests.get(node["url"] + "/redfish/v1/Systems/1",
                        auth=("reader", "new-secret-22")).status_code == 200
