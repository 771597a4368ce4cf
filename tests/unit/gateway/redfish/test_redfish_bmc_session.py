"""BmcSession sends what requests' full path would send: the session's headers with the
request's on top (None removes one), Basic auth, JSON bodies, and the cookies a BMC set
(a real loopback server records every request it receives); BmcAdapter keeps one
connection pool per BMC address and looks a closed one up again. What BmcSession
remembers per session (prepared URLs, checked headers) changes nothing it sends or
refuses."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests
from requests.exceptions import InvalidHeader, MissingSchema

from gateway.redfish.bmc_session import BmcAdapter, BmcSession
from tests.unit.gateway.redfish.loopback import LoopbackServer, QuietHandler, serving


class _Recorder(QuietHandler):
    def _answer(self) -> None:
        server: _RecordingServer = self.server  # type: ignore[assignment]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server.seen.append((self.command, self.path, dict(self.headers.items()), body))
        self.send_response(200)
        if self.path == "/login":
            self.send_header("Set-Cookie", "sid=abc123; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = _answer  # noqa: N815 (http.server's naming)


class _RecordingServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Recorder)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


@pytest.fixture
def server() -> Iterator[_RecordingServer]:
    with serving(_RecordingServer()) as httpd:
        yield httpd


def test_headers_auth_and_json_body_reach_the_bmc(server: _RecordingServer) -> None:
    session = BmcSession()
    session.headers["X-Auth-Token"] = "token-1"
    session.headers["X-Vendor-Hint"] = "legacy"
    session.auth = ("admin", "secret")
    with session:
        answer = session.request("PATCH", server.url + "/redfish/v1/Systems/1",
                                 json={"Boot": {"BootSourceOverrideTarget": "Cd"}},
                                 headers={"If-Match": "W/\"1\"", "X-Vendor-Hint": None},
                                 timeout=5)
    assert answer.status_code == 200
    method, path, headers, body = server.seen[-1]
    assert (method, path) == ("PATCH", "/redfish/v1/Systems/1")
    assert headers["X-Auth-Token"] == "token-1"
    assert headers["If-Match"] == "W/\"1\""
    assert "X-Vendor-Hint" not in headers  # None removes a session header
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"Boot": {"BootSourceOverrideTarget": "Cd"}}
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"admin:secret").decode()


def test_a_cookie_the_bmc_set_is_sent_back(server: _RecordingServer) -> None:
    with BmcSession() as session:
        session.get(server.url + "/login", timeout=5)
        assert "Cookie" not in server.seen[-1][2]
        session.get(server.url + "/redfish/v1/", timeout=5)
    assert server.seen[-1][2]["Cookie"] == "sid=abc123"


def test_query_parameters_are_kept(server: _RecordingServer) -> None:
    with BmcSession() as session:
        session.get(server.url + "/redfish/v1/Systems", params={"$expand": "."}, timeout=5)
    assert server.seen[-1][1] == "/redfish/v1/Systems?%24expand=."


def test_the_environment_is_not_read(monkeypatch: pytest.MonkeyPatch,
                                     server: _RecordingServer) -> None:
    # A proxy from the environment would take the request elsewhere (nothing listens).
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    with BmcSession() as session:
        assert session.get(server.url + "/redfish/v1/", timeout=5).status_code == 200
    assert server.seen[-1][1] == "/redfish/v1/"


def test_each_bmc_address_gets_its_own_pool(server: _RecordingServer) -> None:
    with serving(_RecordingServer()) as other, BmcSession() as session:
        session.mount("http://", BmcAdapter())
        for _ in range(2):
            session.get(server.url + "/redfish/v1/Systems/1", timeout=5)
            session.get(other.url + "/redfish/v1/Systems/2", timeout=5)
    assert [path for _m, path, _h, _b in server.seen] == ["/redfish/v1/Systems/1"] * 2
    assert [path for _m, path, _h, _b in other.seen] == ["/redfish/v1/Systems/2"] * 2


def test_a_pool_urllib3_closed_is_looked_up_again(server: _RecordingServer) -> None:
    adapter = BmcAdapter()
    with BmcSession() as session:
        session.mount("http://", adapter)
        session.get(server.url + "/redfish/v1/", timeout=5)
        adapter.poolmanager.clear()  # closes every pool, as an eviction does
        assert session.get(server.url + "/redfish/v1/", timeout=5).status_code == 200
    assert len(server.seen) == 2


def test_a_header_that_would_inject_another_is_refused_every_time(
        server: _RecordingServer) -> None:
    # Header checks are remembered per session: a value seen valid is not checked
    # again, one never seen is, however many requests came before.
    with BmcSession() as session:
        session.headers["X-Auth-Token"] = "token-1"
        for _ in range(2):
            session.get(server.url + "/redfish/v1/", timeout=5)
        session.headers["X-Auth-Token"] = "token-2\r\nX-Evil: 1"
        for _ in range(2):
            with pytest.raises(InvalidHeader):
                session.get(server.url + "/redfish/v1/", timeout=5)
    assert len(server.seen) == 2
    assert all("X-Evil" not in headers for _m, _p, headers, _b in server.seen)


def test_urls_are_prepared_as_requests_prepares_them(server: _RecordingServer) -> None:
    # Prepared once per session and remembered: quoting and dot segments as requests'
    # own path, the same answer on every request, and a bad URL still refused.
    paths = ["/redfish/v1/Systems/1 a", "/redfish/v1/Systems/1/../2", "/redfish/v1/%7Eid"]
    with BmcSession() as session:
        for _ in range(2):
            for path in paths:
                session.get(server.url + path, timeout=5)
        for _ in range(2):
            with pytest.raises(MissingSchema):
                session.get("redfish/v1/", timeout=5)
    expected = [requests.Request("GET", server.url + p).prepare().path_url for p in paths]
    assert [path for _m, path, _h, _b in server.seen] == expected * 2
