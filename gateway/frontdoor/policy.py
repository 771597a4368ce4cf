"""The front-door policy every listener of the gateway enforces, and its one helper.

The model is nginx's defaults (``client_header_timeout``, ``client_body_timeout``,
``keepalive_timeout``, ``limit_conn``): a request head must arrive whole within
``head_timeout_s`` counted from its first byte (from accept() for a connection's
first request), not from each recv(), so a client trickling one byte every few
seconds is cut off like a silent one. The body has its own whole deadline; a
keep-alive connection may sit idle between requests for ``idle_timeout_s``.
``max_connections_per_client`` stops one address from taking the whole
``max_connections`` budget. All waiting happens on event loops (no thread per
waiting client), so holding many slow connections costs a few KB each and
never blocks the requests of other clients.

Configured in ``[front_door]`` (defaults for every listener) and
``[front_door.<listener>]`` (cim, media, api, bmc_events); see
docs/configuration.md.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from gateway.config import ConfigError, GatewayConfig
from gateway.config_model import FrontDoorLimits
from gateway.frontdoor.errors import FrontDoorError

LISTENERS = ("cim", "media", "api", "bmc_events")

# Reasons a connection or request is cut off or refused at the front door
# (the keys of the refusal counters and of /metrics' reason label).
HEAD_TIMEOUT = "head-timeout"
BODY_TIMEOUT = "body-timeout"
PER_CLIENT_LIMIT = "per-client-limit"
GLOBAL_LIMIT = "connection-limit"
HEAD_TOO_LARGE = "head-too-large"
BODY_TOO_LARGE = "body-too-large"
MALFORMED = "malformed-request"


@dataclass(frozen=True)
class FrontDoorPolicy:
    """Deadlines in seconds and connection limits of one listener."""

    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 60.0
    max_connections_per_client: int = 64
    max_connections: int = 1024

    def __post_init__(self) -> None:
        for name in ("head_timeout_s", "body_timeout_s", "idle_timeout_s"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ValueError(f"{name} must be a number of seconds in (0, 3600], "
                                 f"got {value!r}")
        if not 1 <= self.max_connections <= 1_000_000:
            raise ValueError(f"max_connections must be 1..1000000, got {self.max_connections}")
        if not 1 <= self.max_connections_per_client <= self.max_connections:
            raise ValueError("max_connections_per_client must be 1..max_connections, "
                             f"got {self.max_connections_per_client}")


# Per-listener defaults: the media server must hold a whole fleet of slow BMC readers
# (one site mounting the same CD at once), and a lab of emulated BMCs reads from one
# address; the others serve publishers, BMC event posts and a few operators.
DEFAULTS: dict[str, FrontDoorPolicy] = {
    "cim": FrontDoorPolicy(max_connections=1024, max_connections_per_client=32),
    "media": FrontDoorPolicy(max_connections=16384, max_connections_per_client=1024),
    "api": FrontDoorPolicy(max_connections=256, max_connections_per_client=32,
                           body_timeout_s=30.0),
    "bmc_events": FrontDoorPolicy(max_connections=4096, max_connections_per_client=16),
}


def _override(policy: FrontDoorPolicy, table: FrontDoorLimits, where: str) -> FrontDoorPolicy:
    try:
        return replace(policy, **table.overrides())
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def front_door_policy(config: GatewayConfig, listener: str) -> FrontDoorPolicy:
    """The policy of `listener` (one of LISTENERS): its defaults, then [front_door], then
    [front_door.<listener>]. Raises ConfigError when the values contradict each other."""
    table = config.file.front_door
    policy = _override(DEFAULTS[listener], table, "front_door")
    own: FrontDoorLimits = getattr(table, listener)
    return _override(policy, own, f"front_door.{listener}")


class ClientSlots:
    """Open connections per client address and in total, and refusals by reason.

    Thread-safe: the media server's loops and the WSGI servers share one kind of
    bookkeeping, read by /metrics.
    """

    def __init__(self, policy: FrontDoorPolicy) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._per_client: Counter[str] = Counter()
        self._open = 0
        self.peak = 0
        self.refused: Counter[str] = Counter()

    def acquire(self, client: str) -> str | None:
        """Take a slot for `client`; None when admitted, else the refusal reason."""
        with self._lock:
            if self._open >= self.policy.max_connections:
                self.refused[GLOBAL_LIMIT] += 1
                return GLOBAL_LIMIT
            if self._per_client[client] >= self.policy.max_connections_per_client:
                self.refused[PER_CLIENT_LIMIT] += 1
                return PER_CLIENT_LIMIT
            self._per_client[client] += 1
            self._open += 1
            self.peak = max(self.peak, self._open)
            return None

    def release(self, client: str) -> None:
        with self._lock:
            self._open -= 1
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]

    def count_refusal(self, reason: str) -> None:
        with self._lock:
            self.refused[reason] += 1

    @property
    def open(self) -> int:
        return self._open

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return dict(self.refused)

    def stats(self) -> FrontDoorStats:
        return FrontDoorStats(self.open, self.refusals())


class DeadlineExceeded(FrontDoorError):
    """The head or body did not arrive whole in time; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HeadTooLarge(FrontDoorError):
    """More than the head limit arrived without the blank line ending the head."""


Recv = Callable[[], Awaitable[bytes]]


async def read_head(recv: Recv, buffer: bytearray, policy: FrontDoorPolicy, *,
                    first: bool, limit: int) -> bytes | None:
    """The next request head (through CRLF CRLF) from `buffer` topped up by `recv()`.

    A connection's first head must be whole within head_timeout_s of accept(); a later
    one may wait idle_timeout_s for its first byte, then has head_timeout_s from that
    byte. Returns None when the client closed, or went idle between requests; raises
    DeadlineExceeded(HEAD_TIMEOUT) for a head started but not finished in time, and
    HeadTooLarge. Bytes after the head stay in `buffer` (body, pipelined requests).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.head_timeout_s if first or buffer else None
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[:end + 4])
            del buffer[:end + 4]
            return head
        if len(buffer) > limit:
            raise HeadTooLarge()
        if deadline is None:
            remaining = policy.idle_timeout_s
        else:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeadlineExceeded(HEAD_TIMEOUT)
        try:
            async with asyncio.timeout(remaining):  # no extra task per recv (wait_for)
                data = await recv()
        except TimeoutError:
            if deadline is None and not buffer:
                return None  # idle keep-alive connection: close quietly
            raise DeadlineExceeded(HEAD_TIMEOUT) from None
        if not data:
            return None  # the client left (also mid-head: nobody is left to answer)
        if deadline is None:
            deadline = loop.time() + policy.head_timeout_s  # counted from the first byte
        buffer += data


async def _body_bytes(recv: Recv, deadline: float) -> bytes:
    """The next bytes of a body, before the loop time `deadline`; DeadlineExceeded
    (BODY_TIMEOUT) when it passes or the client hangs up early."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        raise DeadlineExceeded(BODY_TIMEOUT)
    try:
        async with asyncio.timeout(remaining):  # no extra task per recv (wait_for)
            data = await recv()
    except TimeoutError:
        raise DeadlineExceeded(BODY_TIMEOUT) from None
    if not data:
        raise DeadlineExceeded(BODY_TIMEOUT)
    return data


async def read_body(recv: Recv, buffer: bytearray, length: int,
                    policy: FrontDoorPolicy) -> bytes:
    """Exactly `length` body bytes (buffered ones first) within body_timeout_s.

    Raises DeadlineExceeded(BODY_TIMEOUT), also when the client hangs up early.
    """
    deadline = asyncio.get_running_loop().time() + policy.body_timeout_s
    while len(buffer) < length:
        buffer += await _body_bytes(recv, deadline)
    body = bytes(buffer[:length])
    del buffer[:length]
    return body


class BodyError(FrontDoorError):
    """A chunked body was malformed or grew beyond the limit; `reason` says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def read_chunked(recv: Recv, buffer: bytearray, policy: FrontDoorPolicy,
                       limit: int) -> bytes:
    """A chunked body (RFC 9112 section 7.1) of at most `limit` bytes within body_timeout_s.

    Raises DeadlineExceeded(BODY_TIMEOUT), BodyError(BODY_TOO_LARGE or MALFORMED).
    """
    deadline = asyncio.get_running_loop().time() + policy.body_timeout_s

    async def more() -> None:
        buffer.extend(await _body_bytes(recv, deadline))

    async def line() -> bytes:
        while (end := buffer.find(b"\r\n")) < 0:
            if len(buffer) > 1024:
                raise BodyError(MALFORMED, "chunk size line too long")
            await more()
        text = bytes(buffer[:end])
        del buffer[:end + 2]
        return text

    body = bytearray()
    while True:
        size_text = (await line()).split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 8 or not all(
                c in b"0123456789abcdefABCDEF" for c in size_text):
            raise BodyError(MALFORMED, "malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            while await line():  # trailer fields, ignored
                pass
            return bytes(body)
        if len(body) + size > limit:
            raise BodyError(BODY_TOO_LARGE, f"chunked body exceeds the {limit} byte limit")
        while len(buffer) < size + 2:
            await more()
        if buffer[size:size + 2] != b"\r\n":
            raise BodyError(MALFORMED, "chunk not followed by CRLF")
        body += buffer[:size]
        del buffer[:size + 2]


@dataclass(frozen=True)
class FrontDoorStats:
    """What /metrics shows of one listener: open connections, refusals by reason and
    (media server) body bytes promised to readers but not yet sent."""

    connections: int
    refusals: dict[str, int]
    bytes_in_flight: int = 0
