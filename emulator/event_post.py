"""The HTTP POST that delivers one pushed event, on a kept-alive connection.

Every task and resource change of every emulated BMC becomes a POST to its
subscribers; in a fleet rollout that is a dozen events per node, all to the
same listener. Through ``requests`` each POST rebuilt its request, merged
session and environment settings and looked up its pool: that was ~11 % of
the emulator's CPU in a profiled rollout (docs/performance.md, "Event
delivery without requests"). Plain http destinations therefore get one
``http.client`` connection per destination and delivery thread, kept alive
between events; https destinations keep going through ``requests`` (its CA
bundle and certificate checks, unchanged).

What the listener sees is the same POST: the JSON document (as ``requests``
encodes it), ``Content-Type: application/json``, the subscription's
HttpHeaders. Redirects are not followed (a 3xx is a refusal, retried like
any other), and no proxy from our environment is used: an emulated BMC does
not read the host's environment.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
from typing import Any
from urllib.parse import urlsplit

import requests

# What a failed attempt raises: the caller logs it and retries after the interval.
DeliveryError = (OSError, http.client.HTTPException, requests.RequestException, ValueError)

_Key = tuple[str, int]


class EventPoster:
    """POSTs event documents; one kept-alive connection per destination and thread."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._local = threading.local()

    def post(self, destination: str, event: dict[str, Any], headers: dict[str, str]) -> int:
        """Deliver ``event``; the listener's status code, or a DeliveryError."""
        parts = urlsplit(destination)
        if parts.scheme != "http":
            return self._post_with_requests(destination, event, headers)
        body = json.dumps(event, allow_nan=False).encode("utf-8")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        send_headers = {"Content-Type": "application/json", "Accept": "*/*"}
        send_headers.update(headers)
        key = (parts.hostname or "", parts.port or 80)
        connection = self._connection(key)
        try:
            connection.request("POST", target, body=body, headers=send_headers)
            response = connection.getresponse()
            response.read()  # the whole answer, so the connection can carry the next event
        except BaseException:
            self._drop(key)
            raise
        if response.will_close:
            self._drop(key)
        return response.status

    def _connection(self, key: _Key) -> http.client.HTTPConnection:
        connections: dict[_Key, http.client.HTTPConnection] = self._connections()
        connection = connections.get(key)
        if connection is not None and _dropped(connection):
            self._drop(key)  # the listener closed it while idle (as urllib3 checks too)
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(key[0], key[1], timeout=self.timeout_s)
            connections[key] = connection
        return connection

    def _connections(self) -> dict[_Key, http.client.HTTPConnection]:
        connections: dict[_Key, http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None)
        if connections is None:
            connections = self._local.connections = {}
        return connections

    def _drop(self, key: _Key) -> None:
        connection = self._connections().pop(key, None)
        if connection is not None:
            connection.close()

    def _post_with_requests(self, destination: str, event: dict[str, Any],
                            headers: dict[str, str]) -> int:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        response = session.post(destination, json=event, headers=headers or None,
                                timeout=self.timeout_s)
        return response.status_code

    def close(self) -> None:
        """Close this thread's connections (the others close with their threads)."""
        for key in list(self._connections()):
            self._drop(key)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed (or sent something unasked)."""
    sock = connection.sock
    if sock is None:
        return False  # not connected yet: request() connects
    poller = select.poll()  # not select(): a cluster's sockets go past FD_SETSIZE
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
