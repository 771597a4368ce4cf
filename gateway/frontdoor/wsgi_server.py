"""A WSGI server whose connections wait on an event loop, not on threads.

Each connection's request head and body are read by one asyncio loop under the
front-door policy (whole-head and whole-body deadlines, idle keep-alive timeout,
per-client and global connection limits). Only a complete request reaches a
worker thread, which runs the WSGI app; the loop writes the buffered response
(with the body deadline as its send deadline). Workers take requests round-robin
by client address, in the priority classes `priority` assigns (see
gateway.frontdoor.dispatch), so a flood from some addresses slows only them. A
client trickling bytes, or hundreds of them, holds a few KB of memory for at most
the deadline and never a worker: every other client keeps being answered.

The HTTP subset: HTTP/1.0 and 1.1, keep-alive, ``Expect: 100-continue``, bodies
announced by Content-Length up to ``max_body_bytes`` (411 for Transfer-Encoding,
413 beyond the limit), heads parsed strictly by gateway.frontdoor.http1. Front-door
refusals are answered with ``error_headers`` added (the CIM listener's DSP0200
headers) and reported to ``on_refused(client, reason, detail)`` on a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from io import BytesIO
from typing import Any
from urllib.parse import unquote_to_bytes

from gateway.frontdoor.dispatch import FairDispatcher
from gateway.frontdoor.http1 import (
    MAX_HEAD_BYTES,
    REASONS,
    HttpError,
    Request,
    content_length,
    is_chunked,
    parse_request_head,
)
from gateway.frontdoor.policy import (
    BODY_TOO_LARGE,
    GLOBAL_LIMIT,
    HEAD_TOO_LARGE,
    MALFORMED,
    PER_CLIENT_LIMIT,
    BodyError,
    ClientSlots,
    DeadlineExceeded,
    FrontDoorPolicy,
    HeadTooLarge,
    read_body,
    read_chunked,
    read_head,
)

LOG = logging.getLogger(__name__)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
RefusalHook = Callable[[str, str, str], None]
RECV_BYTES = 65536
_NO_BODY = {204, 304}


class _Response:
    def __init__(self) -> None:
        self.status = "500 Internal Server Error"
        self.headers: list[tuple[str, str]] = []
        self.started = False


class FrontDoorWsgiServer:
    """Serves `app` on host:port (0: any free port) from `start` to `stop`."""

    def __init__(self, name: str, host: str, port: int, app: WsgiApp, *,
                 policy: FrontDoorPolicy, tls: ssl.SSLContext | None = None,
                 max_body_bytes: int = 1024 * 1024, workers: int = 16,
                 on_refused: RefusalHook | None = None,
                 error_headers: Iterable[tuple[str, str]] = (),
                 chunked_bodies: bool = True, slots: ClientSlots | None = None,
                 priority: Callable[[str, Request], int] | None = None) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._app = app
        self.policy = policy
        self._tls = tls
        self._max_body = max_body_bytes
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._worker_count = workers
        self._dispatcher: FairDispatcher | None = None  # created on the loop
        self._priority = priority
        self._on_refused = on_refused
        self._error_headers = list(error_headers)
        self._chunked = chunked_bodies
        self.slots = slots or ClientSlots(policy)  # shared by a listener's ports
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def running(self) -> bool:
        return self._thread is not None

    # ----- life cycle -------------------------------------------------------
    def start(self) -> int:
        """Bind, listen and serve in a daemon thread; returns the bound port.
        Raises OSError when the address cannot be bound."""
        sock = _listen(self.host, self.port)
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._serve(sock, ready))
            except BaseException as exc:  # reported to start(); never a silent thread death
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise OSError(f"{self.name} could not serve: {failure[0]}")
        return self.port

    def stop(self) -> None:
        """Stop listening, cut open connections, join the thread (idempotent)."""
        if self._loop is not None and self._stopped is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._thread = None
        self._workers.shutdown(wait=False, cancel_futures=True)

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(
            self._connection, sock=sock, ssl=self._tls, limit=MAX_HEAD_BYTES,
            ssl_handshake_timeout=self.policy.head_timeout_s if self._tls else None)
        ready.set()
        await self._stopped.wait()
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    # ----- one connection ---------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "unknown"
        refused = self.slots.acquire(client)
        try:
            if refused is not None:
                # Closed unanswered, like nginx's limit_conn with a 444: answering would
                # cost the flood more of our time than it costs the flooder.
                self._report(client, refused, "connection refused at the front door")
                if self._on_refused is not None:
                    with contextlib.suppress(RuntimeError):  # shutting down
                        self._workers.submit(_safe_call, self._on_refused, client, refused,
                                             "connection refused at the front door")
                return
            try:
                await self._requests(reader, writer, client, peer)
            finally:
                self.slots.release(client)
        except (ConnectionError, ssl.SSLError, OSError, TimeoutError) as exc:
            LOG.debug("%s: connection from %s ended: %s", self.name, client, exc)
        except asyncio.CancelledError:
            # Cut by stop(). Ending normally, not cancelled: Python 3.11's
            # StreamReaderProtocol calls task.exception() on the finished task, which
            # raises for a cancelled one and logs a traceback per open connection.
            LOG.debug("%s: connection from %s cut at stop", self.name, client)
        finally:
            self._writers.discard(writer)
            writer.transport.abort() if refused else writer.close()
            self._tasks.discard(task)

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        client: str, peer: Any) -> None:
        buffer = bytearray()

        async def recv() -> bytes:
            return await reader.read(RECV_BYTES)

        first = True
        while True:
            try:
                head = await read_head(recv, buffer, self.policy, first=first,
                                       limit=MAX_HEAD_BYTES)
            except DeadlineExceeded as exc:
                message = "request head not received in time"
                return await self._refuse(writer, client, (exc.reason, message), 408, message)
            except HeadTooLarge:
                message = "request head too large"
                return await self._refuse(writer, client, (HEAD_TOO_LARGE, message), 431,
                                          message)
            if head is None:
                return
            first = False
            try:
                request = parse_request_head(head, bodies=True, chunked=self._chunked)
            except HttpError as exc:
                return await self._refuse(writer, client, (MALFORMED, f"{exc.status} {exc}"),
                                          exc.status, str(exc))
            length = content_length(request) or 0
            if length > self._max_body:
                message = f"body of {length} bytes exceeds the {self._max_body} byte limit"
                return await self._refuse(writer, client, (BODY_TOO_LARGE, message), 413,
                                          message)
            chunked = is_chunked(request)
            if ((length or chunked)
                    and (request.header("expect") or "").lower() == "100-continue"):
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            try:
                if chunked:
                    body = await read_chunked(recv, buffer, self.policy, self._max_body)
                else:
                    body = await read_body(recv, buffer, length, self.policy)
            except DeadlineExceeded as exc:
                message = "request body not received in time"
                return await self._refuse(writer, client, (exc.reason, message), 408, message)
            except BodyError as exc:
                status = 413 if exc.reason == BODY_TOO_LARGE else 400
                return await self._refuse(writer, client, (exc.reason, str(exc)), status,
                                          str(exc))
            environ = self._environ(request, body, peer)
            if self._dispatcher is None:
                self._dispatcher = FairDispatcher(self._workers, self._worker_count)
            priority = self._priority(client, request) if self._priority else 0
            response, keep = await self._dispatcher.run(priority, client, self._call_app,
                                                        environ, request)
            writer.write(response)
            await asyncio.wait_for(writer.drain(), self.policy.body_timeout_s)
            if not keep:
                return

    async def _refuse(self, writer: asyncio.StreamWriter, client: str,
                      report: tuple[str, str], status: int, message: str) -> None:
        """Report (and wait for the hook: the refusal is on record before the client
        learns of it), then answer `status` and close."""
        reason, detail = report
        self._report(client, reason, detail)
        if self._on_refused is not None:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(RuntimeError):  # shutting down
                await loop.run_in_executor(self._workers, _safe_call, self._on_refused,
                                           client, reason, detail)
        body = f"{message}\n".encode()
        fields = [*self._error_headers, ("Content-Type", "text/plain; charset=utf-8"),
                  ("Content-Length", str(len(body))), ("Connection", "close")]
        writer.write(_head(f"{status} {REASONS.get(status, 'Error')}", fields) + body)
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(writer.drain(), 1.0)

    def _report(self, client: str, reason: str, detail: str) -> None:
        """Count and log a refusal (the hook is the caller's business)."""
        if reason not in (PER_CLIENT_LIMIT, GLOBAL_LIMIT):  # ClientSlots counted those
            self.slots.count_refusal(reason)
        LOG.info("%s: refused %s: %s (%s)", self.name, client, reason, detail)

    # ----- WSGI -------------------------------------------------------------
    def _environ(self, request: Request, body: bytes, peer: Any) -> dict[str, Any]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(request.path).decode("latin-1"),
            "QUERY_STRING": request.query,
            "SERVER_NAME": self.host or "localhost",
            "SERVER_PORT": str(self.port),
            "SERVER_PROTOCOL": request.version,
            "REMOTE_ADDR": str(peer[0]) if peer else "",
            "REMOTE_PORT": str(peer[1]) if peer else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self._tls else "http",
            "wsgi.input": BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, values in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = values[0]
            elif "_" not in name and key not in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                environ[f"HTTP_{key}"] = ",".join(values)  # underscores could pose as another
        # The body is read whole (a chunked one decoded): the app sees its exact length.
        environ["CONTENT_LENGTH"] = str(len(body))
        return environ

    def _call_app(self, environ: dict[str, Any], request: Request) -> tuple[bytes, bool]:
        """Run the app on a worker thread; the whole response as bytes, and keep-alive."""
        response = _Response()
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info is not None and response.started:
                raise exc_info[1].with_traceback(exc_info[2])
            response.status, response.headers, response.started = status, headers, True
            return chunks.append

        try:
            result = self._app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:  # the app's bug: one logged traceback, a plain 500 to the client
            LOG.exception("%s: unhandled error in %s %s", self.name, request.method,
                          environ["PATH_INFO"])
            response.status, response.headers, chunks = (
                "500 Internal Server Error", [("Content-Type", "text/plain")],
                [b"internal error\n"])
        keep = request.keep_alive
        code = int(response.status.split(" ", 1)[0])
        body = b"".join(chunks)
        fields = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
        if code not in _NO_BODY and code >= 200:
            fields.append(("Content-Length", str(len(body))))
        if request.method == "HEAD" or code in _NO_BODY:
            body = b""
        if not keep:
            fields.append(("Connection", "close"))
        elif request.version == "HTTP/1.0":
            fields.append(("Connection", "keep-alive"))
        return _head(response.status, fields) + body, keep


def _head(status: str, fields: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _safe_call(hook: RefusalHook, client: str, reason: str, detail: str) -> None:
    try:
        hook(client, reason, detail)
    except Exception:  # a failing hook must not take the server down
        LOG.exception("refusal hook failed")


def _listen(host: str, port: int) -> socket.socket:
    info = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                              flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
