"""One HTTP/1.x client connection: parse requests, hand them over in order.

Only what Redfish clients use is implemented: HTTP/1.0 and 1.1, keep-alive,
Content-Length and chunked request bodies, ``Expect: 100-continue``.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote

from emulator.server.spool import SPOOL_IN_MEMORY_BYTES, SpooledBody

if TYPE_CHECKING:
    from emulator.server.multiport import MultiPortServer

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MAX_HEADER_BYTES = 64 * 1024
# An oversized request body is read and thrown away up to this many bytes so
# the client can read our 413 before we close; beyond it we just hang up.
MAX_DISCARD_BYTES = 1 << 30
# Stop reading from a client that pipelines more than this while we work.
MAX_PENDING_BYTES = 4 << 20

_REASONS = {
    100: "Continue", 400: "Bad Request", 431: "Request Header Fields Too Large",
}


@dataclass
class PortPolicy:
    """Per-port behaviour a fault injector can change at run time.

    delay_s: seconds added before each request is handled (>= 0).
    blackhole: accept connections and read requests but never answer them.
    """

    delay_s: float = 0.0
    blackhole: bool = False


@dataclass(eq=False)
class Listener:
    """One listening port, the app behind it and its open connections."""

    port: int
    app: WsgiApp
    policy: PortPolicy
    server: asyncio.Server | None = None
    connections: set[HttpConnection] = field(default_factory=set)


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests, hands them to the pool in order."""

    def __init__(self, server: MultiPortServer, listener: Listener) -> None:
        self._server = server
        self._listener = listener
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.busy = False  # a request is being handled; pipelined ones wait
        self._closing = False
        self._discard_left = 0
        self._spooling: SpooledBody | None = None  # a large body on its way to disk
        self.last_activity = time.monotonic()
        self._peer: tuple[str, int] = ("", 0)
        self._seen_bytes = False

    # asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        self._listener.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.connections.discard(self)
        if self._spooling is not None:
            self._spooling.cancel()
        self._closing = True
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if not self._seen_bytes:
            self._seen_bytes = True
            if self._server.ssl_context is None and looks_like_tls(data):
                self._refuse_tls()
                return
        if self._discard_left:
            take = min(self._discard_left, len(data))
            self._discard_left -= take
            data = data[take:]
            if not self._discard_left:
                self.close()
            return
        if self._spooling is not None:
            if self._spooling.left:
                data, pause = self._spooling.feed(data)
                if pause and self._transport is not None:
                    self._transport.pause_reading()
                if self._spooling.left:
                    return
                # The whole body is here; the request goes out once it is on disk.
                self.busy = True
            self._buffer += data  # anything pipelined after the body
            if len(self._buffer) > MAX_PENDING_BYTES and self._transport is not None:
                self._transport.pause_reading()
            return
        self._buffer += data
        if len(self._buffer) > MAX_PENDING_BYTES and self.busy and self._transport is not None:
            self._transport.pause_reading()
        self._try_next_request()

    # parsing --------------------------------------------------------------
    def _try_next_request(self) -> None:
        if self.busy or self._closing or self._transport is None:
            return
        try:
            parsed = self._parse_request()
        except _BadRequest as exc:
            self._send_simple(exc.status, str(exc))
            self.close()
            return
        if parsed is None:
            return
        environ, keep_alive, discard = parsed
        self.busy = True
        self._server.dispatch(self, environ, keep_alive, discard, self._listener)

    def _parse_request(self) -> tuple[dict[str, Any], bool, int] | None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise _BadRequest(431, "request headers too large")
            return None
        if end > MAX_HEADER_BYTES:
            raise _BadRequest(431, "request headers too large")
        head = bytes(self._buffer[:end]).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, "malformed header line")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        body_start = end + 4
        limit = self._server.max_body_bytes
        discard = 0
        if "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = _decode_chunked(self._buffer, body_start, limit)
            if decoded is None:
                return None
            body, consumed, too_large = decoded
            # The app sees a plain body of known length (WSGI has no chunking).
            headers.pop("transfer-encoding")
            headers["content-length"] = str(len(body))
            if too_large:
                # Header says nothing about the size; we cannot find the end
                # cheaply, so answer and hang up.
                headers["content-length"] = str(limit + 1)
                body = b""
                discard = -1
            del self._buffer[:consumed]
        else:
            raw_length = headers.get("content-length", "0") or "0"
            if not raw_length.isdigit():
                raise _BadRequest(400, "invalid Content-Length")
            length = int(raw_length)
            if length > limit:
                have = len(self._buffer) - body_start
                del self._buffer[:]
                discard = min(length - have, MAX_DISCARD_BYTES) if have < length else 0
                body = b""
                if discard == 0:
                    discard = -1  # close after the answer
            else:
                if len(self._buffer) - body_start < length:
                    if headers.get("expect", "").lower() == "100-continue" and (
                        len(self._buffer) == body_start
                    ):
                        assert self._transport is not None
                        self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                        headers.pop("expect")
                    if length > SPOOL_IN_MEMORY_BYTES:
                        # A big upload (a bundle image): stream it to a spool
                        # file instead of growing the buffer to its full size.
                        self._spooling = SpooledBody(
                            self, (method, target, version, headers), length,
                            self._server.spool_file, self._server.loop)
                        rest, _pause = self._spooling.feed(bytes(self._buffer[body_start:]))
                        del self._buffer[:]
                        self._buffer += rest
                    return None
                body = bytes(self._buffer[body_start : body_start + length])
                del self._buffer[: body_start + length]
        connection = headers.get("connection", "").lower()
        keep_alive = (
            "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        )
        environ = self.environ(method, target, version, headers, io.BytesIO(body), len(body))
        return environ, keep_alive and discard == 0, discard

    def environ(
        self, method: str, target: str, version: str, headers: dict[str, str],
        body: IO[bytes], body_length: int,
    ) -> dict[str, Any]:
        """The WSGI environ for one request whose body is readable from ``body``."""
        path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "RAW_URI": target,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self._listener.port),
            "SERVER_PROTOCOL": version,
            "REMOTE_ADDR": self._peer[0],
            "REMOTE_PORT": str(self._peer[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self._server.ssl_context else "http",
            "wsgi.input": body,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in headers.items():
            if key == "content-type":
                environ["CONTENT_TYPE"] = value
            elif key == "content-length":
                environ["CONTENT_LENGTH"] = value
            else:
                environ["HTTP_" + key.upper().replace("-", "_")] = value
        if "CONTENT_LENGTH" not in environ and body_length:
            environ["CONTENT_LENGTH"] = str(body_length)
        return environ

    # a spooled body (called on the loop thread by its writer) ----------------
    def spooled(self, body: SpooledBody, spool: IO[bytes]) -> None:
        """The body is on disk: hand the request over (or drop it if the client left)."""
        if body is not self._spooling or self._closing or self._transport is None:
            spool.close()
            return
        self._spooling = None
        self._server.dispatch(self, body.environ(self, spool), body.keep_alive, 0,
                              self._listener)

    def resume_spooling(self) -> None:
        """The writer caught up: read the rest of the body."""
        if self._transport is not None and self._spooling is not None and self._spooling.left:
            self._transport.resume_reading()

    # writing (called on the loop thread) ------------------------------------
    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._closing:
            self._transport.write(data)
            self.last_activity = time.monotonic()

    def finish_request(self, keep_alive: bool, discard: int) -> None:
        self.busy = False
        if discard > 0:
            self._discard_left = discard
            return
        if not keep_alive or discard < 0:
            self.close()
            return
        if self._transport is not None:
            self._transport.resume_reading()
        self._try_next_request()

    def _send_simple(self, status: int, text: str) -> None:
        body = text.encode()
        reason = _REASONS.get(status, "Error")
        self.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        )

    def _refuse_tls(self) -> None:
        """A TLS handshake on a plain-HTTP port: say so at once and hang up.

        Waiting for a request line that never comes would keep an HTTPS-only
        client (Ansible's redfish modules) hanging until the idle timeout; the
        client cannot read this answer, but its handshake fails at once, as
        against nginx's 497 the other way round.
        """
        self._send_simple(400, "this port speaks plain HTTP, not HTTPS (TLS handshake received)")
        self.close()

    @property
    def closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.abort()


def looks_like_tls(data: bytes) -> bool:
    """A TLS record starts with content type 0x16 (handshake); no HTTP request line can."""
    return data[:1] == b"\x16"


def _decode_chunked(
    buffer: bytearray, start: int, limit: int
) -> tuple[bytes, int, bool] | None:
    """Decode a chunked body; None if incomplete. Returns (body, consumed, too_large)."""
    pos = start
    out = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_text = bytes(buffer[pos:line_end]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _BadRequest(400, "malformed chunk size") from None
        pos = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", pos)
            while trailer_end > pos:  # skip trailer fields
                pos = trailer_end + 2
                trailer_end = buffer.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return bytes(out), trailer_end + 2, False
        if len(out) + size > limit:
            return b"", len(buffer), True
        if len(buffer) < pos + size + 2:
            return None
        out += buffer[pos : pos + size]
        pos += size + 2
