"""/redfish/v1/AccountService: local accounts and the three predefined roles."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from emulator.accounts import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    ROLE_PRIVILEGES,
    Account,
    Privilege,
    Role,
)
from emulator.errors import RedfishError
from emulator.redfish.common import (
    bmc,
    check_properties,
    existing,
    json_response,
    not_found,
    read_json,
    requires,
)
from emulator.redfish.documents import OK_STATUS, collection, refs, resource, serve

blueprint = Blueprint("account_service", __name__)

SERVICE_URI = "/redfish/v1/AccountService"
ACCOUNTS_URI = f"{SERVICE_URI}/Accounts"
ROLES_URI = f"{SERVICE_URI}/Roles"
ROLE_IDS = tuple(role.value for role in Role)
MAX_LOCKOUT_VALUE = 86400 * 7


def service_document() -> dict[str, Any]:
    policy = bmc().accounts.lockout
    return resource(
        SERVICE_URI, "#AccountService.v1_18_1.AccountService", "AccountService",
        "Account Service",
        ServiceEnabled=True,
        MinPasswordLength=MIN_PASSWORD_LENGTH,
        MaxPasswordLength=MAX_PASSWORD_LENGTH,
        LocalAccountAuth="Enabled",
        SupportedAccountTypes=["Redfish"],
        Status=OK_STATUS,
        AccountLockoutThreshold=policy.threshold,
        AccountLockoutDuration=policy.duration_s,
        AccountLockoutCounterResetAfter=policy.counter_reset_s,
        AccountLockoutCounterResetEnabled=True,
        **refs(SERVICE_URI, "Accounts", "Roles"),
    )


def update_service(document: dict[str, Any]) -> None:
    """The lockout policy: threshold (0: never), duration (0: until unlocked), counter reset."""
    writable = {"AccountLockoutThreshold": int, "AccountLockoutDuration": int,
                "AccountLockoutCounterResetAfter": int}
    check_properties(document, writable, read_only=service_document().keys() - writable.keys())
    policy = bmc().accounts.lockout
    threshold = document.get("AccountLockoutThreshold", policy.threshold)
    duration = document.get("AccountLockoutDuration", policy.duration_s)
    reset_after = document.get("AccountLockoutCounterResetAfter", policy.counter_reset_s)
    for name, value in (("AccountLockoutThreshold", threshold),
                        ("AccountLockoutDuration", duration),
                        ("AccountLockoutCounterResetAfter", reset_after)):
        if not 0 <= value <= MAX_LOCKOUT_VALUE:
            raise RedfishError(400, "PropertyValueOutOfRange", value, name)
    if duration and reset_after > duration:
        # The schema: the counter reset shall not exceed the lockout duration.
        raise RedfishError(400, "PropertyValueConflict", "AccountLockoutCounterResetAfter",
                           "AccountLockoutDuration")
    policy.threshold, policy.duration_s, policy.counter_reset_s = threshold, duration, reset_after


serve(blueprint, SERVICE_URI, service_document, update_service, Privilege.CONFIGURE_USERS)


@blueprint.get(ACCOUNTS_URI)
def accounts() -> Response:
    members = [f"{ACCOUNTS_URI}/{a.id}" for a in bmc().accounts.all()]
    return json_response(
        collection(ACCOUNTS_URI, "ManagerAccountCollection", "Accounts", members)
    )


def _account_document(account: Account) -> dict[str, object]:
    return {
        "@odata.id": f"{ACCOUNTS_URI}/{account.id}",
        "@odata.type": "#ManagerAccount.v1_14_1.ManagerAccount",
        "Id": account.id,
        "Name": "User Account",
        "UserName": account.username,
        "RoleId": account.role.value,
        "Enabled": account.enabled,
        "Locked": account.locked(),
        "Password": None,  # never readable (the schema says null on GET)
        "AccountTypes": ["Redfish"],
        "PasswordChangeRequired": False,
        "PasswordExpiration": None,
        "Links": {"Role": {"@odata.id": f"{ROLES_URI}/{account.role.value}"}},
    }


def _account(account_id: str) -> Account:
    return existing(bmc().accounts.get(account_id), "ManagerAccount", account_id)


@blueprint.post(ACCOUNTS_URI)
@requires(Privilege.CONFIGURE_USERS)
def create_account() -> Response:
    document = read_json()
    check_properties(
        document,
        {"UserName": str, "Password": str, "RoleId": str, "Enabled": bool},
        choices={"RoleId": ROLE_IDS},
        required=("UserName", "Password", "RoleId"),
    )
    account = bmc().accounts.add(document["UserName"], document["Password"],
                                 Role(document["RoleId"]))
    account.enabled = document.get("Enabled", True)
    return json_response(_account_document(account), 201,
                         {"Location": f"{ACCOUNTS_URI}/{account.id}"})


@blueprint.get(f"{ACCOUNTS_URI}/<account_id>")
def account(account_id: str) -> Response:
    return json_response(_account_document(_account(account_id)))


@blueprint.patch(f"{ACCOUNTS_URI}/<account_id>")
@requires(Privilege.CONFIGURE_SELF)
def patch_account(account_id: str) -> Response:
    """Password, RoleId, Enabled; Locked only to false (unlock).

    A new password, a new role or disabling ends the account's sessions at
    once, as on a real BMC: a token must not outlive the credentials or
    privileges it was issued for.
    """
    found = _account(account_id)
    document = read_json()
    writable = {"Password": str, "RoleId": str, "Enabled": bool, "Locked": bool}
    check_properties(document, writable,
                     read_only=_account_document(found).keys() - writable.keys(),
                     choices={"RoleId": ROLE_IDS, "Locked": (False,)})
    admin = Privilege.CONFIGURE_USERS in g.account.privileges
    # ConfigureSelf lets a user change only their own password.
    if not admin and (found is not g.account or set(document) - {"Password"}):
        raise RedfishError(403, "InsufficientPrivilege")
    password = document.get("Password")
    if password is not None:
        found.check_password_policy(password)  # before anything changes
    role = Role(document["RoleId"]) if "RoleId" in document else found.role
    ends_sessions = (password is not None or role is not found.role
                     or document.get("Enabled") is False)
    if password is not None:
        found.set_password(password)
    found.role = role
    found.enabled = document.get("Enabled", found.enabled)
    if "Locked" in document:
        found.unlock()
    if ends_sessions:
        bmc().sessions.end_for(found)
    return json_response(_account_document(found))


@blueprint.delete(f"{ACCOUNTS_URI}/<account_id>")
@requires(Privilege.CONFIGURE_USERS)
def delete_account(account_id: str) -> Response:
    found = _account(account_id)
    if found is g.account:
        raise RedfishError(409, "ResourceCannotBeDeleted")
    current = bmc()
    current.accounts.remove(account_id)
    current.sessions.end_for(found)
    return json_response(None, 204)


@blueprint.get(ROLES_URI)
def roles() -> Response:
    members = [f"{ROLES_URI}/{role}" for role in ROLE_IDS]
    return json_response(collection(ROLES_URI, "RoleCollection", "Roles", members))


@blueprint.get(f"{ROLES_URI}/<role_id>")
def role(role_id: str) -> Response:
    if role_id not in ROLE_IDS:
        raise not_found("Role", role_id)
    privileges = sorted(p.value for p in ROLE_PRIVILEGES[Role(role_id)])
    return json_response(
        {
            "@odata.id": f"{ROLES_URI}/{role_id}",
            "@odata.type": "#Role.v1_3_3.Role",
            "Id": role_id,
            "Name": f"{role_id} role",
            "RoleId": role_id,
            "IsPredefined": True,
            "AssignedPrivileges": privileges,
        }
    )
