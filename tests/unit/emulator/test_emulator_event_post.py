"""Pushed events over kept-alive connections (emulator/event_post.py), against a real
loopback listener: what the listener receives, connection reuse, a listener that
closes idle connections, order and retries through EventDelivery."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from emulator.event_post import EventPoster
from emulator.events import EventDelivery, Subscription


class Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.received: queue.Queue[tuple[str, dict[str, str], dict[str, Any]]] = queue.Queue()
        self.connections = 0
        self.statuses: list[int] = []  # answered in turn; 204 when empty
        self.close_after_each = False


class Handler(BaseHTTPRequestHandler):
    server: Listener
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.server.statuses.pop(0) if self.server.statuses else 204
        self.server.received.put((self.path, dict(self.headers), json.loads(body)))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        if self.server.close_after_each:
            self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: Listener, path: str = "/events") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_post_sends_the_json_document_with_the_subscription_headers(listener: Listener) -> None:
    poster = EventPoster(timeout_s=5.0)
    status = poster.post(url(listener, "/events?x=1"), {"Id": "1", "Events": []},
                         {"X-Token": "abc"})
    path, headers, body = listener.received.get(timeout=5)
    assert status == 204
    assert path == "/events?x=1"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Token"] == "abc"
    assert body == {"Id": "1", "Events": []}
    poster.close()


def test_one_connection_carries_many_events(listener: Listener) -> None:
    poster = EventPoster(timeout_s=5.0)
    for index in range(5):
        assert poster.post(url(listener), {"Id": str(index)}, {}) == 204
    assert listener.connections == 1
    poster.close()


def test_a_listener_that_closes_its_connections_still_gets_every_event(
        listener: Listener) -> None:
    listener.close_after_each = True
    poster = EventPoster(timeout_s=5.0)
    for index in range(3):
        assert poster.post(url(listener), {"Id": str(index)}, {}) == 204
    assert [listener.received.get(timeout=5)[2]["Id"] for _ in range(3)] == ["0", "1", "2"]
    assert listener.connections == 3
    poster.close()


def test_delivery_keeps_order_and_retries_a_refused_event(listener: Listener) -> None:
    listener.statuses = [503]  # the first POST is refused, then accepted
    delivery = EventDelivery(attempts=2, interval_s=0.01)
    subscription = Subscription(id="1", destination=url(listener))
    for index in range(4):
        delivery.submit(subscription, {"Id": str(index)})
    ids = [listener.received.get(timeout=5)[2]["Id"] for _ in range(5)]
    assert ids == ["0", "0", "1", "2", "3"]
    delivery.stop()


def test_an_unreachable_listener_gives_up_and_holds_up_nobody(listener: Listener) -> None:
    dead = url(listener).replace(str(listener.server_address[1]), "1")  # nothing listens on 1
    delivery = EventDelivery(attempts=2, interval_s=0.01)
    subscription = Subscription(id="1", destination=dead)
    delivery.submit(subscription, {"Id": "lost"})
    alive = Subscription(id="2", destination=url(listener))
    delivery.submit(alive, {"Id": "kept"})
    assert listener.received.get(timeout=5)[2]["Id"] == "kept"
    deadline = time.monotonic() + 10
    while subscription.draining and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not subscription.draining  # gave up after its attempts; nothing left queued
    assert not subscription.outbox
    delivery.stop()


def test_listeners_that_keep_failing_hold_up_no_other_subscription(listener: Listener) -> None:
    # Twice as many dead listeners as the pool has threads, each between its attempts:
    # a live subscription's event is delivered while they all still wait to retry (a
    # pool thread waiting out each retry interval held it back until they gave up).
    dead_url = url(listener).replace(str(listener.server_address[1]), "1")
    delivery = EventDelivery(attempts=3, interval_s=5.0)
    dead = [Subscription(id=f"dead-{i}", destination=dead_url) for i in range(8)]
    for subscription in dead:
        delivery.submit(subscription, {"Id": "lost"})
    delivery.submit(Subscription(id="live", destination=url(listener)), {"Id": "kept"})
    assert listener.received.get(timeout=30)[2]["Id"] == "kept"
    assert all(subscription.draining for subscription in dead)  # none has given up yet
    # They wait on one retry thread, not a thread each (a lab of 5,000 BMCs keeping a
    # dead gateway's subscription would otherwise start thousands).
    names = [thread.name for thread in threading.enumerate()]
    assert names.count("events-retry") == 1 and not any("Timer" in n for n in names)
    delivery.stop()


def test_a_deleted_subscription_drops_what_it_had_yet_to_deliver(listener: Listener) -> None:
    dead_url = url(listener).replace(str(listener.server_address[1]), "1")
    delivery = EventDelivery(attempts=3, interval_s=0.2)
    subscription = Subscription(id="1", destination=dead_url)
    for index in range(5):
        delivery.submit(subscription, {"Id": str(index)})
    subscription.removed = True  # what EventService.remove does
    deadline = time.monotonic() + 10
    while subscription.draining and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not subscription.draining and not subscription.outbox
    delivery.submit(subscription, {"Id": "late"})  # an event after the deletion: nothing
    assert not subscription.outbox
    delivery.stop()
