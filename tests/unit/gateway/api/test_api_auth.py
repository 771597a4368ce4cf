"""Bearer tokens: stored hashed, roles enforced, revocation immediate, dashboard cookie."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.api.auth import Role, TokenError
from tests.unit.gateway.api.conftest import BACKENDS, ApiHarness

# The API end to end on both backends: PostgreSQL is a first-class store.
pytestmark = pytest.mark.parametrize("api", BACKENDS, indirect=True)


def test_only_the_hash_of_a_token_is_stored(api: ApiHarness) -> None:
    secret = api.tokens["admin"]
    with api.context.store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM api_tokens")).all()
    dumped = repr(rows)
    assert secret not in dumped
    assert secret[8:24] not in dumped  # not even a large piece of it
    assert len(rows) == 3


def test_missing_malformed_unknown_and_revoked_tokens_get_401(api: ApiHarness) -> None:
    cases = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {api.tokens['admin']}"},
        "empty bearer": {"Authorization": "Bearer "},
        "unknown": {"Authorization": "Bearer ff_" + "x" * 43},
        "garbage": {"Authorization": "Bearer ' OR 1=1 --"},
    }
    for name, headers in cases.items():
        response = api.client.get("/api/alerts", headers=headers)
        assert response.status_code == 401, name
        assert response.json["error"]["code"] == "unauthorized", name
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), name
    api.context.tokens.revoke("viewer-token")
    response = api.client.get("/api/alerts", headers=api.headers("viewer"))
    assert response.status_code == 401


def test_roles_are_ordered(api: ApiHarness) -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)
    viewer = api.client.post("/api/tokens", json={"name": "x", "role": "viewer"},
                             headers=api.headers("operator"))
    assert viewer.status_code == 403
    assert "needs admin" in viewer.json["error"]["message"]


def test_token_names_are_unique_and_checked(api: ApiHarness) -> None:
    for name in ("viewer-token", "", "has space", "x" * 65):
        try:
            api.context.tokens.create(name, "viewer")
        except TokenError as exc:
            assert "token" in str(exc)
        else:
            raise AssertionError(f"token name {name!r} was accepted")


def test_admin_creates_a_token_over_the_api_that_then_works(api: ApiHarness) -> None:
    created = api.client.post("/api/tokens", json={"name": "ci-bot", "role": "operator"},
                              headers=api.headers("admin"))
    assert created.status_code == 201
    secret = created.json["token"]
    listed = api.client.get("/api/tokens", headers=api.headers("admin")).json
    assert "ci-bot" in [t["name"] for t in listed["items"]]
    assert secret not in repr(listed)
    assert api.client.get("/api/audit", headers={"Authorization": f"Bearer {secret}"}
                          ).status_code == 200
    revoked = api.client.post("/api/tokens/ci-bot/revoke", headers=api.headers("admin"))
    assert revoked.status_code == 200 and revoked.json["active"] is False
    assert api.client.get("/api/audit", headers={"Authorization": f"Bearer {secret}"}
                          ).status_code == 401


def test_dashboard_login_sets_a_strict_httponly_cookie(api: ApiHarness) -> None:
    page = api.client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    bad = api.client.post("/login", data={"token": "ff_wrong-wrong-wrong-wrong", "next": "/"})
    assert bad.status_code == 401 and b"unknown, malformed or revoked" in bad.data
    good = api.client.post("/login", data={"token": api.tokens["viewer"],
                                           "next": "https://evil.example/"})
    assert good.status_code == 303 and good.headers["Location"] == "/"  # no open redirect
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert api.client.get("/alerts").status_code == 200
    assert api.client.get("/api/alerts").status_code == 200


def test_cookie_sessions_need_the_csrf_header_for_changes(api: ApiHarness) -> None:
    api.client.post("/login", data={"token": api.tokens["admin"], "next": "/"})
    body = {"name": "from-cookie", "role": "viewer"}
    forged = api.client.post("/api/tokens", json=body)
    assert forged.status_code == 403 and "X-Requested-With" in forged.json["error"]["message"]
    sent = api.client.post("/api/tokens", json=body, headers={"X-Requested-With": "fleetflash"})
    assert sent.status_code == 201


def test_logout_ends_the_dashboard_session(api: ApiHarness) -> None:
    api.client.post("/login", data={"token": api.tokens["viewer"], "next": "/"})
    assert api.client.post("/logout").status_code == 303
    assert api.client.get("/alerts").status_code == 302


def test_revoking_a_token_ends_its_dashboard_session(api: ApiHarness) -> None:
    api.client.post("/login", data={"token": api.tokens["operator"], "next": "/"})
    assert api.client.get("/alerts").status_code == 200
    api.context.tokens.revoke("operator-token")
    assert api.client.get("/alerts").status_code == 302
