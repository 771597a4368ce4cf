"""How the media server answers an authorised request: status, headers and body.

Whole images, single ranges and multipart/byteranges (see gateway.media.ranges),
304/412 for conditional requests, and short text errors. Bodies leave through
Connection.sendfile; BodyProgress counts them as served, and the bytes promised
but not yet sent in an InFlight total, which /metrics reports as bytes in flight.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import BinaryIO, Literal

from gateway.frontdoor.http1 import Request, response_head
from gateway.media.catalog import ServableImage
from gateway.media.connections import Connection
from gateway.media.ranges import ByteRange, plan_response
from gateway.media.transfer_stats import TransferCounters

CONTENT_TYPE = "application/octet-stream"
Detached = Literal["detached"]
DETACHED: Detached = "detached"


class InFlight:
    """Response body bytes promised but not yet sent, over every connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # connections run on several loop threads
        self._bytes = 0

    def add(self, nbytes: int) -> None:
        with self._lock:
            self._bytes += nbytes

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes


class BodyProgress:
    """Counts one response's body bytes as they leave: served per image and node
    (TransferCounters) and, until sent, in flight.

    One small object per transfer instead of closures and a wrapper coroutine:
    10,000 readers hold 10,000 of these for the whole transfer (see
    docs/performance.md, front door: RSS per connection).
    """

    __slots__ = ("_counters", "_in_flight", "_image", "_campaign", "_node", "_left")

    def __init__(self, counters: TransferCounters, in_flight: InFlight, image_id: str,
                 campaign_id: str, node_id: str) -> None:
        self._counters = counters
        self._in_flight = in_flight
        self._image = image_id
        self._campaign = campaign_id
        self._node = node_id
        self._left = 0

    def promise(self, nbytes: int) -> None:
        self._left += nbytes
        self._in_flight.add(nbytes)

    def __call__(self, nbytes: int) -> None:
        """`nbytes` of body left (the Connection.sendfile progress callback)."""
        self._left -= nbytes
        self._in_flight.add(-nbytes)
        self._counters.add(self._image, self._campaign, self._node, nbytes)

    def settle(self) -> None:
        """The transfer ended (also early): what was not sent is no longer in flight."""
        self._in_flight.add(-self._left)
        self._left = 0


async def send_image(conn: Connection, request: Request, image: ServableImage,
                     stream: BinaryIO, keep_alive: bool, progress: BodyProgress, *,
                     detach: Callable[[ByteRange], None] | None = None
                     ) -> bool | Detached:
    """Answer a GET or HEAD for an authorised image; True when the connection may
    carry another request.

    With `detach`, a body of one part (the whole image or one range: what BMCs
    ask for) is handed to `detach(part)` once the head is sent, and DETACHED is
    returned: the caller's task ends while the body goes out.
    """
    planned = _write_head(conn, request, image, keep_alive)
    if planned is None:
        return await send_error(conn, 416, "range not satisfiable", keep_alive,
                                [("Content-Range", f"bytes */{image.size}")])
    parts, trailer = planned
    if request.method == "GET" and detach is not None and len(parts) == 1 and not trailer:
        await conn.drain()
        part = parts[0][1]
        progress.promise(part.length)
        detach(part)
        return DETACHED
    if request.method == "GET" and parts:
        progress.promise(sum(part.length for _, part in parts))
        try:
            for part_head, part in parts:
                conn.write(part_head)
                await conn.sendfile(stream, part.first, part.length, progress)
        finally:
            progress.settle()
        conn.write(trailer)
    await conn.drain()
    return keep_alive


def _write_head(conn: Connection, request: Request, image: ServableImage, keep_alive: bool
                ) -> tuple[list[tuple[bytes, ByteRange]], bytes] | None:
    """Write the head of a 200, 206, 304 or 412 and return the body's [(part head,
    byte range)] and trailer; None for a 416. (Its own function so that nothing of
    the head stays referenced while the body goes out.)"""
    etag = f'"{image.sha256}"'
    plan = plan_response(request.method, image.size, etag, request.headers)
    if plan.status == 416:
        return None
    common = [("ETag", etag), ("Accept-Ranges", "bytes"), ("Cache-Control", "private")]
    parts: list[tuple[bytes, ByteRange]] = []
    trailer = b""
    if plan.status in (304, 412):
        fields = common if plan.status == 304 else [*common, ("Content-Length", "0")]
    elif plan.status == 200:
        fields = [*common, ("Content-Type", CONTENT_TYPE),
                  ("Content-Length", str(image.size))]
        parts = [(b"", ByteRange(0, image.size - 1))]
    elif len(plan.ranges) == 1:
        part = plan.ranges[0]
        fields = [*common, ("Content-Type", CONTENT_TYPE),
                  ("Content-Range", f"bytes {part.first}-{part.last}/{image.size}"),
                  ("Content-Length", str(part.length))]
        parts = [(b"", part)]
    else:
        boundary = secrets.token_hex(16)
        parts = [(_part_head(boundary, r, image.size), r) for r in plan.ranges]
        trailer = f"\r\n--{boundary}--\r\n".encode("ascii")
        length = sum(len(h) + r.length for h, r in parts) + len(trailer)
        fields = [*common, ("Content-Type", f"multipart/byteranges; boundary={boundary}"),
                  ("Content-Length", str(length))]
    conn.write(response_head(plan.status, fields, keep_alive=keep_alive))
    return parts, trailer


async def send_error(conn: Connection, status: int, message: str,
                     keep_alive: bool, extra: list[tuple[str, str]] | None = None, *,
                     head: bool = False) -> bool:
    """A short text error; `head`: the request was HEAD, so headers only."""
    body = f"{message}\n".encode()
    fields = [*(extra or []), ("Content-Type", "text/plain; charset=utf-8"),
              ("Content-Length", str(len(body)))]
    conn.write(response_head(status, fields, keep_alive=keep_alive)
               + (b"" if head else body))
    await conn.drain()
    return keep_alive


def _part_head(boundary: str, part: ByteRange, size: int) -> bytes:
    return (f"\r\n--{boundary}\r\nContent-Type: {CONTENT_TYPE}\r\n"
            f"Content-Range: bytes {part.first}-{part.last}/{size}\r\n\r\n").encode("ascii")
