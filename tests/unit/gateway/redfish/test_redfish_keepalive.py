"""The BMC client keeps its TCP connection alive between requests (a real loopback server
counts the client ports it sees), and the health probe can reuse one session."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gateway.redfish import BmcEndpoint, TlsMode, probe, probe_session
from gateway.redfish.connector import FleetConnector
from tests.unit.gateway.redfish.loopback import LoopbackServer, QuietHandler, serving

DOCS = {
    "/redfish/v1/": {"Id": "RootService", "Systems": {"@odata.id": "/redfish/v1/Systems"}},
    "/redfish/v1/Systems": {"Members": [], "Members@odata.count": 0},
}


class _Handler(QuietHandler):  # keep-alive unless the client asks to close

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server: _CountingServer = self.server  # type: ignore[assignment]
        server.ports.append(self.client_address[1])
        doc = DOCS.get(self.path)
        body = json.dumps(doc or {}).encode()
        self.send_response(200 if doc is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _CountingServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.ports: list[int] = []


@pytest.fixture
def server() -> Iterator[_CountingServer]:
    with serving(_CountingServer()) as httpd:
        yield httpd


def _endpoint(server: _CountingServer) -> BmcEndpoint:
    host, port = server.server_address[:2]
    return BmcEndpoint(name="bmc-keepalive", url=f"http://{host}:{port}", username="u",
                       password="p", tls=TlsMode.INSECURE)


def test_connector_reuses_one_connection_for_consecutive_requests(
        server: _CountingServer) -> None:
    connector = FleetConnector(_endpoint(server))
    try:
        for _ in range(4):
            assert connector.get("/redfish/v1/").json()["Id"] == "RootService"
    finally:
        connector.close()
    assert len(server.ports) == 4
    assert len(set(server.ports)) == 1, "a new TCP connection was opened per request"


def test_probe_with_a_session_reuses_its_connection(server: _CountingServer) -> None:
    endpoint = _endpoint(server)
    session = probe_session(endpoint)
    try:
        assert probe(endpoint, session=session)
        assert probe(endpoint, session=session)
    finally:
        session.close()
    assert len(server.ports) == 4  # root + Systems, twice
    assert len(set(server.ports)) == 1


def test_probe_without_a_server_is_false(server: _CountingServer) -> None:
    endpoint = _endpoint(server)
    server.shutdown()
    server.server_close()
    session = probe_session(endpoint)
    try:
        assert probe(endpoint, session=session, timeout=2.0) is False
    finally:
        session.close()
