"""How the media server answers an authorised request: status, headers and body.

Whole images, single ranges and multipart/byteranges (see gateway.media.ranges),
304/412 for conditional requests, and short text errors. Bodies leave through
Connection.sendfile; the bytes promised but not yet sent are kept in an InFlight
count, which /metrics reports as bytes in flight.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import BinaryIO

from gateway.frontdoor.http1 import Request, response_head
from gateway.media.catalog import ServableImage
from gateway.media.connections import Connection
from gateway.media.ranges import ByteRange, plan_response

CONTENT_TYPE = "application/octet-stream"


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


async def send_image(conn: Connection, request: Request, image: ServableImage,
                     stream: BinaryIO, keep_alive: bool, count: Callable[[int], None],
                     in_flight: InFlight) -> bool:
    """Answer a GET or HEAD for an authorised image; True when the connection may
    carry another request. `count(n)` is told of every body byte sent."""
    etag = f'"{image.sha256}"'
    plan = plan_response(request.method, image.size, etag, request.headers)
    common = [("ETag", etag), ("Accept-Ranges", "bytes"), ("Cache-Control", "private")]
    if plan.status in (304, 412):
        fields = common if plan.status == 304 else [*common, ("Content-Length", "0")]
        conn.write(response_head(plan.status, fields, keep_alive=keep_alive))
        await conn.drain()
        return keep_alive
    if plan.status == 416:
        return await send_error(conn, 416, "range not satisfiable", keep_alive,
                                [("Content-Range", f"bytes */{image.size}")])
    send_body = request.method == "GET"
    if plan.status == 200:
        fields = [*common, ("Content-Type", CONTENT_TYPE),
                  ("Content-Length", str(image.size))]
        conn.write(response_head(200, fields, keep_alive=keep_alive))
        if send_body:
            await _sendfile(conn, stream, 0, image.size, count, in_flight)
        await conn.drain()
        return keep_alive
    if len(plan.ranges) == 1:
        part = plan.ranges[0]
        fields = [*common, ("Content-Type", CONTENT_TYPE),
                  ("Content-Range", f"bytes {part.first}-{part.last}/{image.size}"),
                  ("Content-Length", str(part.length))]
        conn.write(response_head(206, fields, keep_alive=keep_alive))
        await _sendfile(conn, stream, part.first, part.length, count, in_flight)
        await conn.drain()
        return keep_alive
    boundary = secrets.token_hex(16)
    heads = [_part_head(boundary, r, image.size) for r in plan.ranges]
    trailer = f"\r\n--{boundary}--\r\n".encode("ascii")
    length = sum(len(h) for h in heads) + sum(r.length for r in plan.ranges) + len(trailer)
    fields = [*common, ("Content-Type", f"multipart/byteranges; boundary={boundary}"),
              ("Content-Length", str(length))]
    conn.write(response_head(206, fields, keep_alive=keep_alive))
    for part_head, part in zip(heads, plan.ranges, strict=True):
        conn.write(part_head)
        await _sendfile(conn, stream, part.first, part.length, count, in_flight)
    conn.write(trailer)
    await conn.drain()
    return keep_alive


async def _sendfile(conn: Connection, stream: BinaryIO, offset: int, length: int,
                    count: Callable[[int], None], in_flight: InFlight) -> None:
    """conn.sendfile, with the bytes not yet sent counted as in flight."""
    left = length

    def sent(nbytes: int) -> None:
        nonlocal left
        left -= nbytes
        in_flight.add(-nbytes)
        count(nbytes)

    in_flight.add(length)
    try:
        await conn.sendfile(stream, offset, length, sent)
    finally:
        in_flight.add(-left)


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
