"""The GET fast path (emulator/redfish/fast_get.py) answers exactly as Flask does.

Every GET-able resource of a node is found by following @odata.id links from
the service root (as a Redfish client crawls), then asked once through the
fast path and once through Flask with the same request: status, every header
and the body must be the same, and the fast path must really have answered
(not handed the request to Flask). A resource whose document changes between
the two calls (a clock, a sensor) is asked again until two answers match.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.redfish.fast_get import FastGet

Answer = tuple[str, list[tuple[str, str]], bytes]
# Not reached by @odata.id links, or served by Flask only to clients that ask for them.
EXTRA_URIS = ("/redfish", "/redfish/v1/", "/redfish/v1/$metadata", "/redfish/v1/odata")


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[EmulatedCluster, FastGet]]:
    with EmulatedCluster(nodes=[NodeSpec(model="FF-1U-R450")]) as cluster:
        assert cluster.redfish_app is not None
        fast = cluster.redfish_app.wsgi_app
        assert isinstance(fast, FastGet)
        yield cluster, fast


def environ(cluster: EmulatedCluster, path: str, *, method: str = "GET",
            password: str | None = None, **headers: str) -> dict[str, Any]:
    """A WSGI environ as the emulator's server builds it, with Basic auth by default."""
    bmc = cluster.bmcs[0]
    credentials = f"{bmc.username}:{password or bmc.password}".encode()
    all_headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode(),
                   "Host": f"127.0.0.1:{bmc.port}", "Accept": "application/json",
                   **{name.replace("_", "-"): value for name, value in headers.items()}}
    path, _, query = path.partition("?")
    built = EnvironBuilder(path=path, method=method, query_string=query,
                           headers=all_headers).get_environ()
    built["SERVER_PORT"] = str(bmc.port)
    built.pop("CONTENT_LENGTH", None)  # as the server: none for a bodiless GET
    built.pop("CONTENT_TYPE", None)
    return built


def call(app: Callable[..., Any], env: dict[str, Any]) -> Answer:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, list(headers)

    body = b"".join(app(dict(env), start_response))
    return seen["status"], seen["headers"], body


def same_answer(fast: FastGet, env: dict[str, Any]) -> tuple[Answer, Answer]:
    """(fast path's answer, Flask's answer), asked again while the document moves."""
    for _attempt in range(5):
        by_fast, by_flask = call(fast, env), call(fast.fallback, env)
        if by_fast == by_flask:
            break
    return by_fast, by_flask


def crawl(cluster: EmulatedCluster, fast: FastGet) -> list[str]:
    """Every URI reachable by @odata.id links from the service root (through Flask)."""
    found: list[str] = []
    queue = ["/redfish/v1"]
    while queue:
        uri = queue.pop()
        if uri in found or "#" in uri:
            continue
        status, _headers, body = call(fast.fallback, environ(cluster, uri))
        if not status.startswith("200"):
            continue
        found.append(uri)
        queue.extend(_links(json.loads(body)))
    return found


def _links(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "@odata.id" and isinstance(value, str):
                yield value
            else:
                yield from _links(value)
    elif isinstance(document, list):
        for item in document:
            yield from _links(item)


def test_every_resource_of_a_node_is_answered_the_same_by_both_paths(
        node: tuple[EmulatedCluster, FastGet]) -> None:
    cluster, fast = node
    uris = crawl(cluster, fast) + list(EXTRA_URIS)
    assert len(uris) > 40  # the crawl reached the whole tree, not just the root
    for uri in uris:
        for method in ("GET", "HEAD"):
            env = environ(cluster, uri, method=method)
            assert fast.answer(dict(env)) is not None, f"{method} {uri} was left to Flask"
            by_fast, by_flask = same_answer(fast, env)
            assert by_fast == by_flask, f"{method} {uri}"
            assert by_fast[0].startswith("200"), f"{method} {uri}: {by_fast[0]}"


@pytest.mark.parametrize("case", [
    "wrong password", "no credentials", "unknown member", "if-none-match", "session token",
    "anonymous service root", "odata-version 4.1", "query parameter",
])
def test_refusals_and_conditional_answers_are_the_same(
        node: tuple[EmulatedCluster, FastGet], case: str) -> None:
    cluster, fast = node
    system = "/redfish/v1/Systems/1"
    if case == "wrong password":
        env = environ(cluster, system, password="not-the-password")
    elif case == "no credentials":
        env = environ(cluster, system)
        del env["HTTP_AUTHORIZATION"]
    elif case == "unknown member":
        env = environ(cluster, "/redfish/v1/Systems/404")
    elif case == "if-none-match":
        etag = dict(call(fast, environ(cluster, "/redfish/v1/Chassis"))[1])["ETag"]
        env = environ(cluster, "/redfish/v1/Chassis", If_None_Match=etag)
    elif case == "session token":
        bmc = cluster.bmcs[0]
        account = bmc.accounts.authenticate(bmc.username, bmc.password)
        assert account is not None
        _session, token = bmc.sessions.create(account)
        env = environ(cluster, system, X_Auth_Token=token)
        del env["HTTP_AUTHORIZATION"]
    elif case == "anonymous service root":
        env = environ(cluster, "/redfish/v1")
        del env["HTTP_AUTHORIZATION"]
    elif case == "odata-version 4.1":
        env = environ(cluster, system, OData_Version="4.1")
    else:
        env = environ(cluster, system + "?$top=1")
    by_fast, by_flask = same_answer(fast, env)
    assert by_fast == by_flask
    expected = {"wrong password": "401", "no credentials": "401", "unknown member": "404",
                "if-none-match": "304", "session token": "200", "anonymous service root": "200",
                "odata-version 4.1": "412", "query parameter": "501"}[case]
    assert by_fast[0].startswith(expected), by_fast[0]


def test_a_wrong_password_counts_once_towards_the_lockout(
        node: tuple[EmulatedCluster, FastGet]) -> None:
    cluster, fast = node
    account = next(a for a in cluster.bmcs[0].accounts.all()
                   if a.username == cluster.bmcs[0].username)
    before = account.failed_logins
    status, _headers, _body = call(fast, environ(cluster, "/redfish/v1/Managers/1",
                                                 password="wrong"))
    assert status.startswith("401")
    assert account.failed_logins == before + 1
    call(fast, environ(cluster, "/redfish/v1/Managers/1"))  # a good login resets the count
    assert account.failed_logins == 0
