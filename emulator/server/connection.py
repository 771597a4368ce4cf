"""One HTTP/1.1 client connection, framed by h11's state machine.

h11 parses request heads, decodes Content-Length and chunked bodies, and
frames every response (Content-Length or chunked, none at all for 204, 304
and HEAD, Connection: close when the exchange must end the connection). This
module feeds it the bytes, hands complete requests to the WSGI pool in order,
and adds what h11 leaves to the server (RFC 9112 lets a server refuse these,
and ambiguous framing is how requests get smuggled past a proxy):

- a request with more than one Content-Length, or with Content-Length and
  Transfer-Encoding together, or with obsolete line folding, gets 400;
- a TLS handshake on a plain-HTTP port gets 400 at once;
- a body larger than the server's limit is never buffered: the app sees its
  size (and answers 413) before any authentication.

Every protocol error answers with its status and closes the connection.
"""

from __future__ import annotations

import asyncio
import io
import time
from typing import IO, TYPE_CHECKING, Any

import h11

from emulator.server.checks import (
    BODYLESS,
    HEAD_END,
    head_problem,
    looks_like_tls,
    reason_phrase,
    response_fields,
    status_line,
)
from emulator.server.environ import connection_environ, wsgi_environ
from emulator.server.listening import Listener, PortPolicy, WsgiApp
from emulator.server.spool import RequestBody, SpooledBody

if TYPE_CHECKING:
    from emulator.server.multiport import MultiPortServer

__all__ = ["HttpConnection", "Listener", "PortPolicy", "WsgiApp"]

MAX_HEADER_BYTES = 64 * 1024
_END = h11.EndOfMessage()  # immutable: one for every answer
# An oversized request body is read and thrown away up to this many bytes so
# the client can read our 413 before we close; beyond it we just hang up.
MAX_DISCARD_BYTES = 1 << 30
# Stop reading from a client that pipelines more than this while we work.
MAX_PENDING_BYTES = 4 << 20


class HttpConnection(asyncio.Protocol):
    """One client connection: feeds h11, hands requests to the pool in order.

    Everything here runs on the event loop thread; the WSGI worker reaches
    the respond/stream methods through loop.call_soon_threadsafe.
    """

    def __init__(self, server: MultiPortServer, listener: Listener, epoch: int) -> None:
        self._server = server
        self._listener = listener
        self._epoch = epoch  # the listener's epoch when the socket was accepted
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._transport: asyncio.Transport | None = None
        self.busy = False  # a request is with the app; pipelined ones wait in h11
        self._closing = False
        self._seen_bytes = False
        self._head_checked = False
        # The next request head as it arrives (None: seed it from h11's buffer),
        # searched once per byte for its end, so a client sending one byte at a
        # time costs linear work.
        self._head: bytearray | None = bytearray()
        self._head_scanned = 0
        self._request: h11.Request | None = None
        self._body: RequestBody | None = None
        # Reading and dropping an oversized body (after or while the app refuses it):
        self._dropping = False
        self._drop_left = 0  # bytes we still read before hanging up
        self._pending = 0  # bytes received while busy
        self._bodyless = False  # the response being sent must not carry a body
        self.last_activity = time.monotonic()
        self._peer: tuple[str, int] = ("", 0)
        self._environ: dict[str, Any] | None = None  # what every request's environ shares

    # asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._epoch != self._listener.epoch:
            self.abort()  # accepted before its port closed: a rebooting BMC drops it
            return
        peer = transport.get_extra_info("peername")
        self._peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        self._listener.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.connections.discard(self)
        if self._body is not None:
            self._body.cancel()
        self._closing = True
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if not self._seen_bytes:
            self._seen_bytes = True
            if self._server.ssl_context is None and looks_like_tls(data):
                self._reject(400, "this port speaks plain HTTP, not HTTPS "
                                  "(TLS handshake received)")
                return
        if self._head is not None and not self._head_checked:
            self._head += data[: MAX_HEADER_BYTES + 4 - len(self._head)]
        self._h11.receive_data(data)
        if self.busy and not self._dropping:
            self._pending += len(data)
            if self._pending > MAX_PENDING_BYTES and self._transport is not None:
                self._transport.pause_reading()
            return
        self._process()

    # requests ---------------------------------------------------------------
    def _process(self) -> None:
        """Take events from h11 until it needs more bytes or a request is with the app."""
        while not self._closing and self._transport is not None:
            if self.busy and not self._dropping:
                return
            if self._h11.their_state is h11.IDLE and not self._head_checked:
                if self._head is None:  # pipelined bytes h11 already holds
                    self._head = bytearray(self._h11.trailing_data[0][: MAX_HEADER_BYTES + 4])
                end = HEAD_END.search(self._head, max(0, self._head_scanned - 2),
                                      MAX_HEADER_BYTES + 2)
                self._head_scanned = len(self._head)
                if end is None and len(self._head) <= MAX_HEADER_BYTES:
                    return  # h11 needs the whole head too
                if end is None:
                    # h11 bounds only a head still incomplete; one that arrived
                    # whole in a single read would pass.
                    self._reject(431, "request headers too large")
                    return
                self._head_checked = True
                problem = head_problem(bytes(self._head[: end.start()]))
                self._head = None
                if problem:
                    self._reject(400, problem)
                    return
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._reject(exc.error_status_hint, str(exc))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._start_request(event)
            elif isinstance(event, h11.Data):
                self._take_body(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._end_body()
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def _start_request(self, request: h11.Request) -> None:
        self._request = request
        length = next((int(value) for _raw, name, value in request.headers._full_items
                       if name == b"content-length"), None)
        limit = self._server.max_body_bytes
        if length is not None and length > limit:
            # Never buffered: the app answers 413 from the declared size.
            self._oversized(length, wait_for_body=not self._h11.client_is_waiting_for_100_continue)
            return
        if self._h11.client_is_waiting_for_100_continue:
            self._send(h11.InformationalResponse(status_code=100, headers=[]))
        self._body = RequestBody(self, self._server.spool_file, self._server.loop)

    def _take_body(self, data: bytes) -> None:
        if self._dropping:
            self._drop_left -= len(data)
            if self._drop_left <= 0 and not self.busy:
                self.close()  # past MAX_DISCARD_BYTES: stop reading, hang up
            return
        if self._body is None:
            return
        if self._body.size + len(data) > self._server.max_body_bytes:
            # Chunked: only now is the body known to be too large.
            self._body.cancel()
            self._body = None
            # Its end cannot be found cheaply: answer, then hang up.
            self._oversized(self._server.max_body_bytes + 1, wait_for_body=False)
            return
        if self._body.feed(data) and self._transport is not None:
            self._transport.pause_reading()

    def _end_body(self) -> None:
        if self._dropping:
            if not self.busy:
                self.close()  # the answer went out and the oversized body is gone
            return
        body, self._body = self._body, None
        if body is None:
            return
        if body.spool is None:
            self._dispatch(body.in_memory(), body.size)
        else:
            body.spool.finish()  # dispatched from spooled() once on disk
            self._body = body
            self.busy = True

    def _oversized(self, length: int, *, wait_for_body: bool) -> None:
        """Let the app refuse a body over the limit; read and drop it, or hang up after.

        Dropping (rather than closing at once) lets the client read the answer:
        closing with unread bytes in the socket makes the kernel send a reset.
        """
        self._dropping = wait_for_body
        self._drop_left = MAX_DISCARD_BYTES
        self._dispatch(io.BytesIO(), 0, declared=length, close=True)

    def _dispatch(self, body: IO[bytes], size: int, *, declared: int | None = None,
                  close: bool = False) -> None:
        assert self._request is not None
        self.busy = True
        if self._environ is None:
            self._environ = connection_environ(port=self._listener.port, peer=self._peer,
                                               https=self._server.ssl_context is not None)
        environ = wsgi_environ(self._request, body, size if declared is None else declared,
                               self._environ)
        self._server.dispatch(self, environ, close, self._listener)

    # a spooled body (called on the loop thread by its writer) ----------------
    def spooled(self, body: SpooledBody, spool: IO[bytes]) -> None:
        """The body is on disk: hand the request over (or drop it if the client left)."""
        if self._body is None or body is not self._body.spool or self._closing:
            spool.close()
            return
        size = self._body.size
        self._body = None
        self.busy = False
        self._dispatch(spool, size)

    def resume_spooling(self) -> None:
        """The writer caught up: read the rest of the body."""
        if self._transport is not None and self._body is not None:
            self._transport.resume_reading()

    # responses (called on the loop thread) ---------------------------------------
    def start_response(self, status: str, headers: list[tuple[str, str]], close: bool) -> None:
        """Send the status line and headers of a streamed answer; h11 picks the framing."""
        try:
            head = self._response_head(status, headers, close)
        except h11.LocalProtocolError:
            self.abort()
            return
        self._send(head)

    def send_body(self, data: bytes) -> None:
        if data and not self._bodyless:
            self._send(h11.Data(data=data))
            self.last_activity = time.monotonic()

    def respond(self, status: str, headers: list[tuple[str, str]], body: bytes,
                close: bool) -> None:
        """A whole response in one write: head and body together."""
        if self._closing or self._transport is None:
            return
        try:
            data = self._h11.send(self._response_head(status, headers, close))
            if body and not self._bodyless:
                data += self._h11.send(h11.Data(data=body))
            data += self._h11.send(_END)
        except h11.LocalProtocolError:  # the app's framing or a header was wrong
            self.abort()
            return
        self._transport.write(data)
        self.last_activity = time.monotonic()
        self._finish_request()

    def end_response(self) -> None:
        self._send(_END)
        self._finish_request()

    def _method(self) -> bytes:
        return self._request.method if self._request is not None else b"GET"

    def _response_head(self, status: str, headers: list[tuple[str, str]], close: bool
                       ) -> h11.Response:
        """The response head; sets whether a body may follow."""
        code, reason = status_line(status)
        self._bodyless = code in BODYLESS or self._method() == b"HEAD"
        # response_fields checked every field as h11 would and gives them in the
        # form h11 keeps them; _parsed skips h11's checks of the status and reason.
        return h11.Response(status_code=code, headers=response_fields(code, headers, close),
                            reason=reason, _parsed=True)

    def _send(self, event: Any) -> None:
        if self._closing or self._transport is None:
            return
        try:
            data = self._h11.send(event)
        except h11.LocalProtocolError:
            self.abort()
            return
        if data:
            self._transport.write(data)

    def _finish_request(self) -> None:
        """The answer is out: next request, drain an oversized body, or close."""
        self.busy = False
        if self._dropping:
            if self._h11.their_state is not h11.SEND_BODY or self._drop_left <= 0:
                self.close()
                return
            self._process()  # keep dropping the body until it ends, then close
            return
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            self._request = None
            self._head_checked = False
            self._head, self._head_scanned = None, 0
            self._pending = 0
            if self._transport is not None:
                self._transport.resume_reading()
            self._process()
        else:
            self.close()

    def _reject(self, status: int, text: str) -> None:
        """A protocol error: answer it (if h11 still can) and close."""
        body = text.encode("utf-8", "replace")
        try:
            data = self._h11.send(h11.Response(
                status_code=status, reason=reason_phrase(status),
                headers=[("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                         ("Connection", "close")]))
            data += self._h11.send(h11.Data(data=body)) + self._h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            data = b""  # a response was already under way: just hang up
        if self._transport is not None and data:
            self._transport.write(data)
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
