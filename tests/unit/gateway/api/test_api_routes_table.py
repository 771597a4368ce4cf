"""Every route, table-driven: who may call it, and what bad input gets.

The rows are generated from the app's own route map, so a new route is covered
(and must be documented) the moment it exists.
"""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from gateway.api.app import create_app
from gateway.api.auth import Role
from gateway.api.openapi import openapi_document
from gateway.api.routing import JSON, Operation, registered_operations
from tests.unit.gateway.api.conftest import ApiHarness

_PARAM = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")
_BELOW = {Role.OPERATOR: "viewer", Role.ADMIN: "operator"}


def _operations() -> list[Operation]:
    from gateway.api.context import ApiContext

    return registered_operations(create_app(ApiContext.__new__(ApiContext)))


def _url(op: Operation) -> str:
    return _PARAM.sub(lambda m: "abc" if m.group(1) != "filename" else "dashboard.css", op.rule)


OPERATIONS = _operations()
IDS = [f"{op.method} {op.rule}" for op in OPERATIONS]


def test_every_flask_route_is_documented_and_the_document_is_valid(api: ApiHarness) -> None:
    document = openapi_document(api.app)
    validate(document)
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item}
    for rule in api.app.url_map.iter_rules():
        path = _PARAM.sub(r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {rule.rule} is not in openapi.json"
    served = api.client.get("/api/openapi.json", headers=api.headers("viewer")).json
    assert served == document


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_anonymous_callers_are_refused(api: ApiHarness, op: Operation) -> None:
    response = api.client.open(_url(op), method=op.method)
    if op.role is None:  # /healthz answers; the login page renders (401 = wrong token)
        assert response.status_code in (200, 401)
        assert response.status_code == 200 or b"Log in" in response.data
        return
    if op.response_media == JSON or op.rule.startswith("/api/") or op.rule == "/metrics":
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    else:  # a page: the browser is sent to the login page
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.role in _BELOW],
                         ids=[i for op, i in zip(OPERATIONS, IDS, strict=True)
                              if op.role in _BELOW])
def test_a_lower_role_is_forbidden(api: ApiHarness, op: Operation) -> None:
    assert op.role is not None
    response = api.client.open(_url(op), method=op.method, json={},
                               headers=api.headers(_BELOW[op.role]))
    assert response.status_code == 403
    assert f"needs {op.role.value}" in response.json["error"]["message"]


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.role is not None],
                         ids=[i for op, i in zip(OPERATIONS, IDS, strict=True)
                              if op.role is not None])
def test_unknown_query_parameters_name_the_field(api: ApiHarness, op: Operation) -> None:
    response = api.client.open(_url(op) + "?bogus=1", method=op.method, json={},
                               headers=api.headers("admin"))
    assert response.status_code == 400
    assert response.json["error"]["field"] == "bogus"


JSON_POSTS = [op for op in OPERATIONS if op.method == "POST" and op.body_media == JSON]


@pytest.mark.parametrize("op", JSON_POSTS, ids=[f"POST {op.rule}" for op in JSON_POSTS])
def test_bad_json_bodies_are_400_with_the_field(api: ApiHarness, op: Operation) -> None:
    headers = api.headers("admin")
    malformed = api.client.post(_url(op), data="{not json", headers=headers,
                                content_type="application/json")
    assert malformed.status_code == 400 and malformed.json["error"]["code"] == "malformed_json"
    unknown = api.client.post(_url(op), json={"surprise": True}, headers=headers)
    assert unknown.status_code == 400 and unknown.json["error"]["field"] == "surprise"
    not_object = api.client.post(_url(op), json=[1, 2], headers=headers)
    assert not_object.status_code == 400


@pytest.mark.parametrize(("description", "path", "field"), [
    ("page size zero", "/api/alerts?limit=0", "limit"),
    ("page size too large", "/api/images?limit=501", "limit"),
    ("negative offset", "/api/campaigns?offset=-1", "offset"),
    ("offset not a number", "/api/nodes?offset=ten", "offset"),
    ("unknown decision", "/api/alerts?decision=maybe", "decision"),
    ("unknown image state", "/api/images?state=shiny", "state"),
    ("unknown campaign state", "/api/campaigns?state=sleeping", "state"),
])
def test_out_of_range_values_name_the_field(api: ApiHarness, description: str, path: str,
                                            field: str) -> None:
    response = api.client.get(path, headers=api.headers("viewer"))
    assert response.status_code == 400, description
    assert response.json["error"]["field"] == field, description


def test_unknown_resources_are_404_in_the_error_shape(api: ApiHarness) -> None:
    for path in ("/api/images/" + "0" * 64, "/api/images/nothex", "/api/nothing"):
        response = api.client.get(path, headers=api.headers("viewer"))
        assert response.status_code == 404, path
        assert set(response.json["error"]) >= {"status", "code", "message"}
    revoke = api.client.post("/api/tokens/nobody/revoke", headers=api.headers("admin"))
    assert revoke.status_code == 404


def test_routes_needing_the_orchestrator_say_so(api: ApiHarness) -> None:
    response = api.client.get("/api/campaigns", headers=api.headers("viewer"))
    assert response.status_code == 503
    assert "orchestration is not running" in response.json["error"]["message"]


def test_wrong_method_is_405_json(api: ApiHarness) -> None:
    response = api.client.delete("/api/alerts", headers=api.headers("admin"))
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"
