"""The built-in media server: verified images over HTTP(S) to many readers at once.

A few asyncio loops (one per core, see event_loops) serve every connection.
Bodies leave through loop.sendfile(), which is os.sendfile(2) on plain TCP
(zero-copy: memory does
not grow with readers or image size) and a bounded 256 KiB read/write loop
under TLS. Every request is authorised afresh: the token is authenticated
(stateless HMAC), then the MediaCatalog says whether the image is still
verified, not withdrawn and its campaign still running. Anything else is 404.

URL space: GET/HEAD /media/<token>/<filename>; optionally
/_fleetflash/authorize for nginx's auth_request (see gateway.media.nginx).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from gateway.media.capability import CapabilityGrant, CapabilitySigner
from gateway.media.catalog import MediaCatalog, ServableImage
from gateway.media.connections import Connection, HeadTooLargeError
from gateway.media.errors import CapabilityError, MediaError
from gateway.media.event_loops import Listener, LoopGroup
from gateway.media.http1 import (
    MAX_HEAD_BYTES,
    HttpError,
    Request,
    parse_request_head,
    response_head,
)
from gateway.media.nginx import AUTHORIZE_PATH, authorize_for_nginx
from gateway.media.ranges import ByteRange, plan_response
from gateway.media.transfer_stats import TransferCounters
from gateway.tls import server_tls_context

log = logging.getLogger(__name__)
_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class ServerLimits:
    """Timeouts in seconds; max_connections (all loops) beyond which new clients get 503."""

    head_timeout_s: float = 15.0
    idle_timeout_s: float = 60.0
    max_connections: int = 2048
    # Seconds a reader may leave its socket full before it is dropped.
    send_timeout_s: float = 300.0
    # One asyncio loop per core; sendfile copies run in a fixed pool of sender threads
    # (memory does not grow with readers). See gateway.media.event_loops / connections.
    event_loops: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    sender_threads: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1) + 2)


class MediaServer:
    """Serve verified images to capability-URL holders.

    Use `start()` to serve from background threads (the gateway, tests) or `run()`
    to also block the caller until `stop()`. `bound_ports()` reports the actual ports when the
    configuration asked for port 0.
    """

    def __init__(
        self,
        signer: CapabilitySigner,
        catalog: MediaCatalog,
        *,
        http: tuple[str, int] | None = ("127.0.0.1", 0),
        https: tuple[str, int] | None = None,
        tls_context: ssl.SSLContext | None = None,
        nginx_root: os.PathLike[str] | str | None = None,
        limits: ServerLimits | None = None,
        counters: TransferCounters | None = None,
    ) -> None:
        if http is None and https is None:
            raise MediaError("media server needs an http or https address")
        if https is not None and tls_context is None:
            raise MediaError("media https address needs a TLS certificate and key")
        self._signer = signer
        self._catalog = catalog
        self._nginx_root = os.fspath(nginx_root) if nginx_root is not None else None
        self._limits = limits or ServerLimits()
        self.counters = counters or TransferCounters()
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="media-catalog")
        listeners = [Listener(scheme, address[0], address[1],
                              tls_context if scheme == "https" else None)
                     for scheme, address in (("http", http), ("https", https))
                     if address is not None]
        # Sender threads run the sendfile(2) copies (see gateway.media.connections).
        self._senders = ThreadPoolExecutor(max_workers=self._limits.sender_threads,
                                           thread_name_prefix="media-send")
        self._loops = LoopGroup(listeners, self._handle, count=self._limits.event_loops,
                                head_limit=MAX_HEAD_BYTES, senders=self._senders,
                                send_timeout_s=self._limits.send_timeout_s)
        self._count_lock = threading.Lock()
        self._connections = 0
        self.peak_connections = 0  # most simultaneous connections seen (for tests and bench)
        self._stop_requested = threading.Event()

    # ----- life cycle -------------------------------------------------------
    @property
    def limits(self) -> ServerLimits:
        return self._limits

    def bound_ports(self) -> dict[str, int]:
        """{"http": port, "https": port} for the listeners that are running."""
        return dict(self._loops.ports)

    def start(self) -> None:
        """Start serving in background threads; returns once the sockets listen.

        Raises MediaError when an address cannot be bound.
        """
        try:
            self._loops.start()
        except OSError as exc:
            raise MediaError(f"media server failed to start: {exc}") from exc
        for scheme, port in self._loops.ports.items():
            log.info("media: serving %s on port %d", scheme, port)

    def run(self) -> None:
        """Start, then block the calling thread until `stop()`."""
        self.start()
        self._stop_requested.wait()

    def stop(self) -> None:
        """Stop listening, close connections and join the threads (idempotent)."""
        self._loops.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._senders.shutdown(wait=False, cancel_futures=True)
        self._stop_requested.set()

    # ----- one connection ---------------------------------------------------
    async def _handle(self, conn: Connection) -> None:
        with self._count_lock:
            self._connections += 1
            self.peak_connections = max(self.peak_connections, self._connections)
            over_limit = self._connections > self._limits.max_connections
        try:
            if over_limit:
                await self._send_error(conn, 503, "too many connections", keep_alive=False)
                return
            timeout = self._limits.head_timeout_s
            while True:
                try:
                    head = await conn.read_head(timeout)
                except HeadTooLargeError:
                    await self._send_error(conn, 431, "request head too large", False)
                    return
                if head is None:
                    return
                try:
                    request = parse_request_head(head)
                except HttpError as exc:
                    await self._send_error(conn, exc.status, str(exc), keep_alive=False)
                    return
                if not await self._respond(request, conn):
                    return
                timeout = self._limits.idle_timeout_s
        except (ConnectionError, ssl.SSLError, OSError, TimeoutError) as exc:
            log.debug("media: connection ended: %s", exc)
        finally:
            with self._count_lock:
                self._connections -= 1

    async def _respond(self, request: Request, conn: Connection) -> bool:
        """Answer one request; True when the connection may carry another."""
        keep_alive = request.keep_alive
        if request.path == AUTHORIZE_PATH and self._nginx_root is not None:
            return await self._authorize_for_nginx(request, conn, keep_alive)
        parts = request.path.split("/")
        if len(parts) != 4 or parts[1] != "media" or not parts[3]:
            return await self._send_error(conn, 404, "not found", keep_alive,
                                          head=request.method == "HEAD")
        if request.method not in ("GET", "HEAD"):
            return await self._send_error(conn, 405, "only GET and HEAD", keep_alive,
                                          [("Allow", "GET, HEAD")])  # never HEAD here
        try:
            grant = self._signer.verify(parts[2])
        except CapabilityError as exc:
            log.info("media: refused a request: %s", exc)
            return await self._send_error(conn, 404, "not found", keep_alive,
                                          head=request.method == "HEAD")
        loop = asyncio.get_running_loop()
        opened = await loop.run_in_executor(self._executor, self._open_servable, grant)
        if opened is None:
            return await self._send_error(conn, 404, "not found", keep_alive,
                                          head=request.method == "HEAD")
        image, stream = opened
        with stream:
            self.counters.count_request()
            return await self._send_image(request, conn, grant, image, stream, keep_alive)

    def _open_servable(self, grant: CapabilityGrant) -> tuple[ServableImage, BinaryIO] | None:
        image = self._catalog.servable_image(grant)
        if image is None:
            return None
        try:
            stream = image.path.open("rb")
        except OSError as exc:
            log.warning("media: cannot open verified image %s: %s", image.image_id, exc.strerror)
            return None
        if os.fstat(stream.fileno()).st_size != image.size:
            # The file changed under the cache after verification: never serve it.
            log.error("media: image %s changed size on disk; refusing it", image.image_id)
            stream.close()
            return None
        return image, stream

    async def _send_image(self, request: Request, conn: Connection,
                          grant: CapabilityGrant, image: ServableImage, stream: BinaryIO,
                          keep_alive: bool) -> bool:
        etag = f'"{image.sha256}"'
        plan = plan_response(request.method, image.size, etag, request.headers)
        common = [("ETag", etag), ("Accept-Ranges", "bytes"), ("Cache-Control", "private")]
        if plan.status in (304, 412):
            fields = common if plan.status == 304 else [*common, ("Content-Length", "0")]
            conn.write(response_head(plan.status, fields, keep_alive=keep_alive))
            await conn.drain()
            return keep_alive
        if plan.status == 416:
            return await self._send_error(conn, 416, "range not satisfiable", keep_alive,
                                          [("Content-Range", f"bytes */{image.size}")])
        send_body = request.method == "GET"
        count = _count_bytes(self.counters, image, grant)
        if plan.status == 200:
            fields = [*common, ("Content-Type", _CONTENT_TYPE),
                      ("Content-Length", str(image.size))]
            conn.write(response_head(200, fields, keep_alive=keep_alive))
            if send_body:
                await conn.sendfile(stream, 0, image.size, count)
            await conn.drain()
            return keep_alive
        if len(plan.ranges) == 1:
            part = plan.ranges[0]
            fields = [*common, ("Content-Type", _CONTENT_TYPE),
                      ("Content-Range", f"bytes {part.first}-{part.last}/{image.size}"),
                      ("Content-Length", str(part.length))]
            conn.write(response_head(206, fields, keep_alive=keep_alive))
            await conn.sendfile(stream, part.first, part.length, count)
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
            await conn.sendfile(stream, part.first, part.length, count)
        conn.write(trailer)
        await conn.drain()
        return keep_alive

    async def _authorize_for_nginx(self, request: Request, conn: Connection,
                                   keep_alive: bool) -> bool:
        loop = asyncio.get_running_loop()
        assert self._nginx_root is not None
        status, fields = await loop.run_in_executor(
            self._executor, authorize_for_nginx, self._signer, self._catalog,
            self._nginx_root, request.header("x-original-uri"), conn.peer,
        )
        # No body either way; a 204 must not even say so (RFC 9110 section 8.6).
        length = [] if status == 204 else [("Content-Length", "0")]
        conn.write(response_head(status, [*fields, *length], keep_alive=keep_alive))
        await conn.drain()
        return keep_alive

    async def _send_error(self, conn: Connection, status: int, message: str,
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
    return (f"\r\n--{boundary}\r\nContent-Type: {_CONTENT_TYPE}\r\n"
            f"Content-Range: bytes {part.first}-{part.last}/{size}\r\n\r\n").encode("ascii")


def _count_bytes(counters: TransferCounters, image: ServableImage,
                 grant: CapabilityGrant) -> Callable[[int], None]:
    def count(nbytes: int) -> None:
        counters.add(image.image_id, grant.campaign_id, grant.node_id, nbytes)
    return count


def make_tls_context(certfile: os.PathLike[str] | str, keyfile: os.PathLike[str] | str
                     ) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+). Raises MediaError naming the unreadable file."""
    try:
        return server_tls_context(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise MediaError(f"cannot load media TLS certificate {certfile}: {exc}") from exc

