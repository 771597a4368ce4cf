"""Accounts, roles and sessions of one BMC."""

from __future__ import annotations

import pytest

from emulator.accounts import AccountStore, Privilege, Role, SessionStore
from emulator.errors import RedfishError


def test_authentication_and_roles() -> None:
    store = AccountStore()
    admin = store.add("admin", "admin-password", Role.ADMINISTRATOR)
    reader = store.add("reader", "reader-password", Role.READONLY)
    assert store.authenticate("admin", "admin-password") is admin
    assert store.authenticate("admin", "wrong-password") is None
    assert store.authenticate("ghost", "admin-password") is None
    assert Privilege.CONFIGURE_USERS in admin.privileges
    assert Privilege.CONFIGURE_COMPONENTS not in reader.privileges
    reader.enabled = False
    assert store.authenticate("reader", "reader-password") is None


@pytest.mark.parametrize("password", ["short", "x" * 65])
def test_password_policy(password: str) -> None:
    with pytest.raises(RedfishError) as caught:
        AccountStore().add("user", password, Role.OPERATOR)
    assert caught.value.status == 400
    assert password not in str(caught.value.message_args)


def test_duplicate_user_names_conflict() -> None:
    store = AccountStore()
    store.add("ops", "ops-password", Role.OPERATOR)
    with pytest.raises(RedfishError) as caught:
        store.add("ops", "other-password", Role.READONLY)
    assert caught.value.status == 409


def test_sessions_expire_and_clear() -> None:
    account = AccountStore().add("ops", "ops-password", Role.OPERATOR)
    sessions = SessionStore(timeout_s=1800)
    session, token = sessions.create(account)
    assert sessions.lookup(token) is session
    assert sessions.lookup(token + "x") is None
    session.last_used -= 3600  # idle for an hour
    assert sessions.lookup(token) is None
    _second, token2 = sessions.create(account)
    sessions.clear()
    assert sessions.lookup(token2) is None
