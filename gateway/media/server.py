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

import contextlib
import functools
import logging
import os
import resource
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from gateway.frontdoor.http1 import (
    MAX_HEAD_BYTES,
    HttpError,
    Request,
    parse_request_head,
    response_head,
)
from gateway.frontdoor.policy import (
    HEAD_TOO_LARGE,
    MALFORMED,
    ClientSlots,
    DeadlineExceeded,
    FrontDoorPolicy,
    FrontDoorStats,
    HeadTooLarge,
    read_head,
)
from gateway.media.capability import CapabilityGrant, CapabilitySigner
from gateway.media.catalog import MediaCatalog, ServableImage
from gateway.media.connections import Connection, SocketConnection
from gateway.media.errors import CapabilityError, MediaError
from gateway.media.event_loops import Listener, LoopGroup
from gateway.media.lookups import LookupPool
from gateway.media.nginx import AUTHORIZE_PATH, authorize_for_nginx
from gateway.media.open_files import SharedFiles
from gateway.media.ranges import ByteRange
from gateway.media.responses import (
    DETACHED,
    BodyProgress,
    Detached,
    InFlight,
    send_error,
    send_image,
)
from gateway.media.sender_lanes import SenderLanes
from gateway.media.transfer_stats import TransferCounters
from gateway.tls import server_tls_context

log = logging.getLogger(__name__)
_SPARE_DESCRIPTORS = 512  # images, the database, the other listeners' sockets


@dataclass(frozen=True)
class ServerLimits:
    """The media server's front-door policy (see gateway.frontdoor) and sending limits.

    Timeouts in seconds. A request head must arrive whole within head_timeout_s
    (from accept(), then from its first byte on a kept-alive connection); beyond
    max_connections (all loops) or max_connections_per_client new clients get 503.
    """

    head_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    max_connections: int = 16384
    max_connections_per_client: int = 1024
    # Seconds a reader may leave its socket full before it is dropped.
    send_timeout_s: float = 300.0
    # One asyncio loop per core; fast readers are served by a fixed number of sender
    # lane threads (memory does not grow with readers). See gateway.media.event_loops / connections.
    event_loops: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    sender_threads: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1) + 2)

    @classmethod
    def from_policy(cls, policy: FrontDoorPolicy) -> ServerLimits:
        return cls(head_timeout_s=policy.head_timeout_s, idle_timeout_s=policy.idle_timeout_s,
                   max_connections=policy.max_connections,
                   max_connections_per_client=policy.max_connections_per_client)

    @property
    def policy(self) -> FrontDoorPolicy:
        return FrontDoorPolicy(head_timeout_s=self.head_timeout_s,
                               idle_timeout_s=self.idle_timeout_s,
                               max_connections=self.max_connections,
                               max_connections_per_client=min(
                                   self.max_connections_per_client, self.max_connections))


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
        self._lookups = LookupPool(8, "media-catalog")  # the catalog may block
        listeners = [Listener(scheme, address[0], address[1],
                              tls_context if scheme == "https" else None)
                     for scheme, address in (("http", http), ("https", https))
                     if address is not None]
        # Sender lanes serve readers that take more than the loops' turns give them.
        self._senders = SenderLanes(self._limits.sender_threads)
        self._loops = LoopGroup(listeners, self._handle, count=self._limits.event_loops,
                                head_limit=MAX_HEAD_BYTES, senders=self._senders,
                                send_timeout_s=self._limits.send_timeout_s,
                                handshake_timeout_s=self._limits.head_timeout_s)
        self._policy = self._limits.policy
        self.slots = ClientSlots(self._policy)  # open connections, refusals by reason
        self._in_flight = InFlight()
        self._stop_requested = threading.Event()
        self._files = SharedFiles()  # one descriptor per image for plain readers

    # ----- life cycle -------------------------------------------------------
    @property
    def limits(self) -> ServerLimits:
        return self._limits

    @property
    def peak_connections(self) -> int:
        """Most simultaneous connections seen (for tests and bench)."""
        return self.slots.peak

    def stats(self) -> FrontDoorStats:
        """Open connections, body bytes promised but not yet sent, refusals by reason."""
        return FrontDoorStats(self.slots.open, self.slots.refusals(), self._in_flight.bytes)

    def bound_ports(self) -> dict[str, int]:
        """{"http": port, "https": port} for the listeners that are running."""
        return dict(self._loops.ports)

    def start(self) -> None:
        """Start serving in background threads; returns once the sockets listen.

        Raises MediaError when an address cannot be bound.
        """
        _raise_descriptor_limit(self._limits.max_connections)
        self._lookups.start()
        self._senders.start()
        try:
            self._loops.start()
        except OSError as exc:
            self._senders.stop()
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
        self._lookups.stop()
        self._senders.stop()
        self._stop_requested.set()

    # ----- one connection ---------------------------------------------------
    async def _handle(self, conn: Connection) -> bool:
        """Serve a new connection; True when a detached body send now owns it."""
        client = conn.peer or "unknown"
        refused = self.slots.acquire(client)
        if refused is not None:
            log.info("media: refused a connection from %s: %s", client, refused)
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError, TimeoutError):
                await send_error(conn, 503, "too many connections", keep_alive=False)
            return False
        return await self._serve(conn, client, first=True)

    async def _serve(self, conn: Connection, client: str, *, first: bool) -> bool:
        """Requests on `conn` (holding one of `client`'s slots) until it is to close
        (False: the slot is released) or a body send was detached (True: the
        connection and its slot live on, see _detached_sent)."""
        detached = False
        try:
            while (request := await self._next_request(conn, client, first)) is not None:
                first = False
                outcome = await self._respond(request, conn, client)
                if outcome == DETACHED:
                    detached = True
                    return True
                if not outcome:
                    return False
        except (ConnectionError, ssl.SSLError, OSError, TimeoutError) as exc:
            log.debug("media: connection ended: %s", exc)
        finally:
            if not detached:
                self.slots.release(client)
        return False

    async def _next_request(self, conn: Connection, client: str, first: bool
                            ) -> Request | None:
        """The next request on `conn`, or None when the connection is to end (the
        client left or idled out, or was cut off or answered with an error here)."""
        if first:
            conn.take_ready()
        try:
            head = await read_head(conn.recv, conn.buffer, self._policy, first=first,
                                   limit=MAX_HEAD_BYTES)
        except DeadlineExceeded as exc:
            self.slots.count_refusal(exc.reason)
            log.info("media: cut off %s: request head not received in time", client)
            return None
        except HeadTooLarge:
            self.slots.count_refusal(HEAD_TOO_LARGE)
            await send_error(conn, 431, "request head too large", False)
            return None
        if head is None:
            return None
        try:
            return parse_request_head(head)
        except HttpError as exc:
            self.slots.count_refusal(MALFORMED)
            await send_error(conn, exc.status, str(exc), keep_alive=False)
            return None

    async def _respond(self, request: Request, conn: Connection, client: str
                       ) -> bool | Detached:
        """Answer one request; True when the connection may carry another, DETACHED
        when its body goes on without this task."""
        keep_alive = request.keep_alive
        if request.path == AUTHORIZE_PATH and self._nginx_root is not None:
            return await self._authorize_for_nginx(request, conn, keep_alive)
        token = _capability_token(request.path)
        if token is None:
            return await send_error(conn, 404, "not found", keep_alive,
                                    head=request.method == "HEAD")
        if request.method not in ("GET", "HEAD"):
            return await send_error(conn, 405, "only GET and HEAD", keep_alive,
                                    [("Allow", "GET, HEAD")])  # never HEAD here
        try:
            grant = self._signer.verify(token)
        except CapabilityError as exc:
            log.info("media: refused a request: %s", exc)
            return await send_error(conn, 404, "not found", keep_alive,
                                    head=request.method == "HEAD")
        shared = conn.shares_files
        try:
            opened = await self._lookups.run(functools.partial(self._open_servable, grant,
                                                               shared))
        except OSError as exc:  # out of descriptors: the image is fine, we are busy
            self.slots.count_refusal("open-failed")
            log.warning("media: cannot open a verified image: %s", exc.strerror)
            return await send_error(conn, 503, "busy, retry later", False,
                                    [("Retry-After", "5")], head=request.method == "HEAD")
        if opened is None:
            return await send_error(conn, 404, "not found", keep_alive,
                                    head=request.method == "HEAD")
        image, stream = opened
        outcome: bool | Detached = False
        try:
            self.counters.count_request()
            progress = BodyProgress(self.counters, self._in_flight, image.image_id,
                                    grant.campaign_id, grant.node_id)
            detach = (functools.partial(self._detach, conn, client, image.path, stream,
                                        progress, keep_alive)
                      if shared and isinstance(conn, SocketConnection) else None)
            outcome = await send_image(conn, request, image, stream, keep_alive, progress,
                                       detach=detach)
            return outcome
        finally:
            if outcome == DETACHED:
                pass  # _detached_sent releases the file
            elif shared:
                self._files.release(image.path)
            else:
                stream.close()

    def _detach(self, conn: SocketConnection, client: str, path: Path, stream: BinaryIO,
                progress: BodyProgress, keep_alive: bool, part: ByteRange) -> None:
        conn.send_detached(stream, part.first, part.length, progress, functools.partial(
            self._detached_sent, conn, client, path, progress, keep_alive))

    def _detached_sent(self, conn: SocketConnection, client: str, path: Path,
                       progress: BodyProgress, keep_alive: bool,
                       error: BaseException | None) -> None:
        """A detached body ended: serve the next request, or close and free the slot."""
        progress.settle()
        self._files.release(path)
        if error is None and keep_alive:
            conn.run(self._serve(conn, client, first=False))
            return
        if error is not None:
            log.debug("media: connection ended: %s", error)
        self.slots.release(client)
        conn.close_now()

    def _open_servable(self, grant: CapabilityGrant, shared: bool
                       ) -> tuple[ServableImage, BinaryIO] | None:
        """The image and an open file of it, or None (404). Raises OSError (503)."""
        image = self._catalog.servable_image(grant)
        if image is None:
            return None
        if shared:
            stream = self._files.acquire(image.path, image.size)
        else:
            stream = image.path.open("rb")
            if os.fstat(stream.fileno()).st_size != image.size:
                stream.close()
                stream = None
        if stream is None:
            # The file changed under the cache after verification: never serve it.
            log.error("media: image %s changed size on disk; refusing it", image.image_id)
        return (image, stream) if stream is not None else None

    async def _authorize_for_nginx(self, request: Request, conn: Connection,
                                   keep_alive: bool) -> bool:
        assert self._nginx_root is not None
        status, fields = await self._lookups.run(functools.partial(
            authorize_for_nginx, self._signer, self._catalog,
            self._nginx_root, request.header("x-original-uri"), conn.peer))
        # No body either way; a 204 must not even say so (RFC 9110 section 8.6).
        length = [] if status == 204 else [("Content-Length", "0")]
        conn.write(response_head(status, [*fields, *length], keep_alive=keep_alive))
        await conn.drain()
        return keep_alive


def _capability_token(path: str) -> str | None:
    """The token of /media/<token>/<filename>, or None for any other path."""
    parts = path.split("/")
    if len(parts) != 4 or parts[1] != "media" or not parts[3]:
        return None
    return parts[2]  # the list goes: a reader holds its frame for the whole transfer


def _raise_descriptor_limit(max_connections: int) -> None:
    """Every reader holds a socket: lift the soft descriptor limit to the hard one,
    and say so when even that cannot hold max_connections (accept() would then fail
    with EMFILE before the front door's own 503)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.info("media: descriptor limit raised from %d to %d", soft, hard)
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit != resource.RLIM_INFINITY and limit < max_connections + _SPARE_DESCRIPTORS:
        log.warning("media: the descriptor limit (%d) is below max_connections (%d) plus "
                    "%d for files and other listeners; raise LimitNOFILE/ulimit -n",
                    limit, max_connections, _SPARE_DESCRIPTORS)


def make_tls_context(certfile: os.PathLike[str] | str, keyfile: os.PathLike[str] | str
                     ) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+). Raises MediaError naming the unreadable file."""
    try:
        return server_tls_context(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise MediaError(f"cannot load media TLS certificate {certfile}: {exc}") from exc

