"""A loopback HTTP proxy in front of a real (emulated) BMC that swaps one resource's
answer for garbage: how tests meet a BMC that answers nonsense."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from gateway.orchestrator.bmc import FleetBmcClient
from gateway.redfish import BmcEndpoint, RedfishError

# Forwarded both ways; the rest of the BMC's headers do not matter here.
_HEADERS = ("Content-Type", "Authorization", "X-Auth-Token", "Location", "Retry-After",
            "ETag", "If-Match", "OData-Version")


@dataclass
class Garbage:
    """What the proxy answers for ``path`` (every path under it when it ends with "/")
    instead of the BMC (status, headers, body); ``method``: only to requests of that
    method (e.g. a PATCH of a resource whose GET is left alone), "" to any."""

    path: str = ""
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    method: str = ""


class GarbageProxy:
    """WSGI: the BMC's answers, except ``garbage.path``'s (set ``garbage`` any time)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.garbage = Garbage()
        self.session = requests.Session()
        self.session.trust_env = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        wanted = self.garbage.path
        if wanted and (path.rstrip("/") == wanted or
                       (wanted.endswith("/") and path.startswith(wanted))) and (
                self.garbage.method in ("", environ["REQUEST_METHOD"])):
            g = self.garbage
            start_response(f"{g.status} Garbage", [*g.headers,
                                                   ("Content-Length", str(len(g.body)))])
            return [g.body]
        query = environ.get("QUERY_STRING", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        headers = {h: environ[f"HTTP_{h.upper().replace('-', '_')}"] for h in _HEADERS
                   if f"HTTP_{h.upper().replace('-', '_')}" in environ}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        answer = self.session.request(
            environ["REQUEST_METHOD"], self.upstream + path + (f"?{query}" if query else ""),
            data=body, headers=headers, allow_redirects=False, timeout=30)
        kept = [(h, answer.headers[h]) for h in _HEADERS if h in answer.headers]
        start_response(f"{answer.status_code} {answer.reason}",
                       [*kept, ("Content-Length", str(len(answer.content)))])
        return [answer.content]


def said_to(proxy: GarbageProxy, endpoint: BmcEndpoint, garbage: Garbage,
            act: Callable[[FleetBmcClient], object],
            prepare: Callable[[FleetBmcClient], object] = lambda _client: None) -> str:
    """What a fresh client's ``act`` ends in while the proxy answers ``garbage`` (after
    ``prepare``, answered by the BMC): the RedfishError's text, "" when it returned.
    Any other exception propagates (the test fails on it)."""
    proxy.garbage = Garbage()
    client = FleetBmcClient.connect(endpoint)
    try:
        prepare(client)
        proxy.garbage = garbage
        act(client)
    except RedfishError as exc:
        return str(exc)
    finally:
        proxy.garbage = Garbage()
        client.close()
    return ""
