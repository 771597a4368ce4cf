"""Message framing at the byte level on every HTTP server of the gateway: the API, the
media server and the BMC event receiver (RFC 9110 sections 9.3.2 and 15.3.5, RFC 9112
section 6.3). A HEAD response carries the GET's fields and no body; a 204 carries no
body and no Content-Length; after either, the connection is closed or ready for the next
request, never holding stray bytes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.api.app import create_app
from gateway.api.context import ApiContext
from gateway.api.server import ApiServer
from gateway.media import CapabilitySigner, MediaServer
from gateway.media.catalog import VerifiedDirectoryCatalog
from gateway.media.nginx import AUTHORIZE_PATH
from gateway.orchestrator.bmc_events import BmcEvent, BmcEventReceiver
from gateway.store import GatewayStore
from tests.integration.media.conftest import RunningMedia, write_image
from tests.support.raw_http import RawConnection, RawResponse

IMAGE = os.urandom(100_000)


def _next_exchange_is_clean(conn: RawConnection, before: RawResponse, path: str,
                            headers: dict[str, str] | None = None) -> None:
    """After a bodiless response: nothing stray, and a keep-alive connection still works."""
    assert conn.nothing_more(before)
    if (before.header("connection") or "").lower() != "close":
        conn.send("GET", path, headers)
        after = conn.read_head()  # a stray body byte would stand where the status line is
        assert after.status < 500


def _get_length(port: int, path: str, headers: dict[str, str] | None = None
                ) -> tuple[RawResponse, bytes]:
    with RawConnection(port) as conn:
        conn.send("GET", path, headers)
        response = conn.read_head()
        return response, conn.read_body(int(response.header("content-length") or 0))


# -- API ------------------------------------------------------------------------------

@dataclass
class RunningApi:
    port: int
    token: str


@pytest.fixture
def api(tmp_path: Path) -> Iterator[RunningApi]:
    store = GatewayStore.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    context = ApiContext.for_store(store)
    token = context.tokens.create("viewer-1", "viewer")[1]
    server = ApiServer(create_app(context), "127.0.0.1", 0)
    server.start()
    try:
        yield RunningApi(server.port, token)
    finally:
        server.stop()
        store.close()


@pytest.mark.parametrize(("path", "authorised", "status"), [
    ("/healthz", False, 200), ("/api/alerts", True, 200), ("/api/alerts", False, 401),
    ("/api/no-such-thing", True, 404)])
def test_api_head_has_the_get_fields_and_no_body(api: RunningApi, path: str,
                                                 authorised: bool, status: int) -> None:
    headers = {"Authorization": f"Bearer {api.token}"} if authorised else {}
    got, body = _get_length(api.port, path, headers)
    assert got.status == status and len(body) > 0
    with RawConnection(api.port) as conn:
        conn.send("HEAD", path, headers)
        head = conn.read_head()
        assert head.status == status
        assert head.header("content-length") == str(len(body))
        assert head.header("content-type") == got.header("content-type")
        _next_exchange_is_clean(conn, head, "/healthz")


# -- media server ---------------------------------------------------------------------

@pytest.fixture
def media(tmp_path: Path) -> Iterator[RunningMedia]:
    """The media server, with the nginx authorize endpoint on (nginx_root)."""
    digest = write_image(tmp_path, IMAGE)
    signer = CapabilitySigner([os.urandom(32)])
    catalog = VerifiedDirectoryCatalog(tmp_path)
    server = MediaServer(signer, catalog, http=("127.0.0.1", 0), nginx_root=tmp_path)
    server.start()
    try:
        yield RunningMedia(server, signer, catalog, tmp_path, IMAGE, digest)
    finally:
        server.stop()


@pytest.mark.parametrize("headers", [
    {}, {"Range": "bytes=10-19"}, {"Range": "bytes=0-0,-1"}, {"Range": f"bytes={len(IMAGE)}-"}])
def test_media_head_has_the_get_fields_and_no_body(
        media: RunningMedia, headers: dict[str, str]) -> None:
    """Range is defined for GET only (RFC 9110 section 14.2): a HEAD describes the whole
    image, as a GET without Range would, whatever Range it carries."""
    path = media.path()
    got, body = _get_length(media.port, path)
    assert (got.status, body) == (200, IMAGE)
    with RawConnection(media.port) as conn:
        conn.send("HEAD", path, headers)
        head = conn.read_head()
        assert head.status == 200
        assert head.header("content-length") == str(len(IMAGE))
        assert head.header("content-range") is None
        assert (head.header("etag"), head.header("accept-ranges")) == (
            got.header("etag"), "bytes")
        _next_exchange_is_clean(conn, head, path, {"Range": "bytes=0-3"})


def test_media_head_of_a_refused_url_has_no_body(media: RunningMedia) -> None:
    with RawConnection(media.port) as conn:
        conn.send("HEAD", media.path(ttl_s=-1))
        head = conn.read_head()
        assert head.status == 404 and int(head.header("content-length") or 0) > 0
        _next_exchange_is_clean(conn, head, media.path())


def test_media_authorize_204_has_no_body_and_no_content_length(media: RunningMedia) -> None:
    with RawConnection(media.port) as conn:
        conn.send("GET", AUTHORIZE_PATH, {"X-Original-URI": media.path()})
        allowed = conn.read_head()
        assert allowed.status == 204, allowed
        assert allowed.header("content-length") is None
        assert allowed.header("transfer-encoding") is None
        _next_exchange_is_clean(conn, allowed, AUTHORIZE_PATH,
                                {"X-Original-URI": media.path(ttl_s=-1)})
    with RawConnection(media.port) as conn:
        conn.send("GET", AUTHORIZE_PATH, {"X-Original-URI": media.path(ttl_s=-1)})
        refused = conn.read_head()
        assert (refused.status, refused.header("content-length")) == (403, "0")
        _next_exchange_is_clean(conn, refused, media.path())


# -- BMC event receiver ---------------------------------------------------------------

@pytest.fixture
def receiver() -> Iterator[tuple[BmcEventReceiver, list[tuple[str, tuple[BmcEvent, ...]]]]]:
    received: list[tuple[str, tuple[BmcEvent, ...]]] = []
    server = BmcEventReceiver("127.0.0.1", 0, "", os.urandom(32),
                              lambda node, events: received.append((node, events)))
    server.start()
    try:
        yield server, received
    finally:
        server.stop()


def test_event_receiver_204_has_no_body_and_no_content_length(
        receiver: tuple[BmcEventReceiver, list[tuple[str, tuple[BmcEvent, ...]]]]) -> None:
    server, received = receiver
    path = server.destination("node-1").removeprefix(server.base_url)
    event = json.dumps({"Events": [{"MessageId": "TaskEvent.1.0.TaskCompletedOK"}]}).encode()
    with RawConnection(server.port) as conn:
        conn.send("POST", path, {"Content-Type": "application/json"}, event)
        accepted = conn.read_head()
        assert accepted.status == 204
        assert accepted.header("content-length") is None
        assert accepted.header("transfer-encoding") is None
        assert conn.nothing_more(accepted)
        if (accepted.header("connection") or "").lower() != "close":
            conn.send("POST", path, {"Content-Type": "application/json"}, event)
            assert conn.read_head().status == 204
    assert [node for node, _ in received] == ["node-1"] * len(received) and received


def test_event_receiver_head_has_no_body(
        receiver: tuple[BmcEventReceiver, list[tuple[str, tuple[BmcEvent, ...]]]]) -> None:
    server, received = receiver
    path = server.destination("node-1").removeprefix(server.base_url)
    got, body = _get_length(server.port, path)
    assert got.status == 405 and body
    with RawConnection(server.port) as conn:
        conn.send("HEAD", path)
        head = conn.read_head()
        assert (head.status, head.header("allow")) == (405, "POST")
        assert head.header("content-length") == str(len(body))
        _next_exchange_is_clean(conn, head, path)
    assert received == []
