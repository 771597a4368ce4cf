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


def test_failed_logins_lock_an_account_and_a_success_restarts_the_count() -> None:
    store = AccountStore()
    store.lockout.threshold = 3
    user = store.add("user", "user-password", Role.OPERATOR)
    for _ in range(2):
        assert store.authenticate("user", "wrong-password") is None
    assert store.authenticate("user", "user-password") is user  # count back to 0
    for _ in range(2):
        store.authenticate("user", "wrong-password")
    assert not user.locked()
    store.authenticate("user", "wrong-password")
    assert user.locked()
    assert store.authenticate("user", "user-password") is None  # even the right one
    user.unlock()
    assert store.authenticate("user", "user-password") is user


def test_lockout_duration_zero_lasts_until_unlocked_and_threshold_zero_never_locks() -> None:
    store = AccountStore()
    store.lockout.threshold, store.lockout.duration_s = 1, 0
    user = store.add("user", "user-password", Role.OPERATOR)
    store.authenticate("user", "wrong-password")
    assert user.locked() and user.locked_until == float("inf")
    store.lockout.threshold = 0
    user.unlock()
    for _ in range(20):
        store.authenticate("user", "wrong-password")
    assert not user.locked()


def test_sessions_of_one_account_end_together() -> None:
    accounts = AccountStore()
    one = accounts.add("one", "one-password", Role.OPERATOR)
    two = accounts.add("two", "two-password", Role.OPERATOR)
    sessions = SessionStore()
    _first, token_a = sessions.create(one)
    _second, token_b = sessions.create(one)
    _third, token_c = sessions.create(two)
    assert sessions.end_for(one) == 2
    assert sessions.lookup(token_a) is None and sessions.lookup(token_b) is None
    assert sessions.lookup(token_c) is not None
