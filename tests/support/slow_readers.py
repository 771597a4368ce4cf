"""Thousands of throttled HTTP readers in one process, cheap enough to leave the CPU
to the server under test (used by bench/front_door.py and the media tests).

Each reader is an asyncio BufferedProtocol: received bytes land in one shared
buffer and are only counted, and throttling pauses the transport (the kernel
then fills the socket and the server sees a slow reader, as with a BMC reading
at its own pace). Every TICK_S a ticker hands each reader rate * TICK_S more
bytes to read. A reader GETs its path on a keep-alive connection and, when the
body ends before `until`, GETs it again.

Run as a process: python -m tests.support.slow_readers PORT RATE_BYTES_S SECONDS
FIRST_SOURCE, with the paths on the first line of stdin (space-separated). Every
later line on stdin prints one JSON line of figures so far; EOF stops the
readers early; the last line printed holds the final figures.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.slow_clients import source_address

REPO = Path(__file__).resolve().parents[2]

TICK_S = 0.5
# How often the readers' loop checks how late it runs (its lag): a reader's clock
# readings (time to first byte) and its reads are late by as much.
LAG_PROBE_S = 0.1
RAMP_BATCH = 200  # connections opened per RAMP_PAUSE_S, like BMCs mounting over seconds
RAMP_PAUSE_S = 0.02
_SINK = memoryview(bytearray(256 * 1024))  # every reader's bytes land here, unread


def sched_seconds(pid: int | str = "self") -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of every live thread
    of process `pid` (/proc/PID/task/*/schedstat, Linux). The second says whether a
    process was starved by the machine rather than short of work."""
    on_cpu = waiting = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        on_cpu += int(fields[0])
        waiting += int(fields[1])
    return on_cpu / 1e9, waiting / 1e9


def raise_fd_limit() -> None:
    """Every reader holds a socket: lift the soft descriptor limit to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ReaderProcess:
    """A process of throttled readers (this module run with -m), driven over pipes."""

    def __init__(self, port: int, paths: list[str], rate: float, seconds: float,
                 first_source: int = 0) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "tests.support.slow_readers", str(port), str(rate),
             str(seconds), str(first_source)], cwd=REPO, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._child.stdin is not None
        self._child.stdin.write(" ".join(paths) + "\n")
        self._child.stdin.flush()

    @property
    def pid(self) -> int:
        return self._child.pid

    def report(self) -> dict[str, Any]:
        """The readers' figures so far (see Figures.as_dict; ttfb left out)."""
        assert self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write("report\n")
        self._child.stdin.flush()
        return json.loads(self._child.stdout.readline())  # type: ignore[no-any-return]

    def finish(self, *, stop: bool = False) -> dict[str, Any]:
        """The final figures, once the readers' time is up (`stop`: stop them now)."""
        assert self._child.stdin is not None and self._child.stdout is not None
        if stop:
            self._child.stdin.close()
        lines = self._child.stdout.read().splitlines()
        if not stop:
            self._child.stdin.close()
        self._child.wait(timeout=60)
        if not lines:
            raise RuntimeError(f"reader process failed (exit {self._child.returncode})")
        return json.loads(lines[-1])  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self._child.poll() is None:
            self._child.kill()
            self._child.wait(timeout=30)


@dataclass
class Figures:
    """What a group of readers saw."""

    bytes: int = 0
    ttfb: list[float] = field(default_factory=list)  # connect start to first body byte
    errors: list[str] = field(default_factory=list)
    connected: int = 0
    receiving: int = 0  # readers that had their first body byte and are still open
    finished: int = 0  # readers that reached `until` (or EOF) still connected
    lags: list[float] = field(default_factory=list)  # how late the loop ran, per probe
    ramp_s: float | None = None  # start to the last connection attempt begun

    def as_dict(self, readers: list[Reader]) -> dict[str, Any]:
        each = sorted(r.received for r in readers)
        lags = sorted(self.lags)
        on_cpu, waiting = sched_seconds()
        return {"bytes": self.bytes, "ttfb": self.ttfb, "errors": self.errors,
                "connected": self.connected, "receiving": self.receiving,
                "finished": self.finished, "min_reader_bytes": each[0] if each else 0,
                "bodies_completed": sum(r.bodies for r in readers),
                "ramp_s": self.ramp_s, "cpu_s": on_cpu, "run_queue_wait_s": waiting,
                "loop_lag_p50_s": _quantile(lags, 0.5), "loop_lag_p99_s": _quantile(lags, 0.99),
                "loop_lag_max_s": lags[-1] if lags else None}


def _quantile(ordered: list[float], q: float) -> float | None:
    return ordered[max(0, int(len(ordered) * q) - 1)] if ordered else None


class Reader(asyncio.BufferedProtocol):
    """One throttled reader; rate 0 reads as fast as the server sends."""

    def __init__(self, path: str, rate: float, figures: Figures, started: float) -> None:
        self._request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        self._rate = rate
        self._figures = figures
        self._started = started
        self._transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._left = -1  # body bytes still to come; -1: reading a head
        self._budget = rate * TICK_S
        self._paused = False
        self._first = True
        self.received = 0
        self.bodies = 0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._figures.connected += 1
        transport.write(self._request)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _SINK if self._left >= 0 else _SINK[:4096]

    def buffer_updated(self, nbytes: int) -> None:
        body = nbytes
        if self._left < 0:
            self._head += _SINK[:nbytes]
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, rest = bytes(self._head[:end]), len(self._head) - end - 4
            self._head.clear()
            if not head.startswith(b"HTTP/1.1 200"):
                self._fail(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                return
            self._left = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n")[0])
            body = rest
        if body and self._first:
            self._first = False
            self._figures.ttfb.append(time.monotonic() - self._started)
            self._figures.receiving += 1
        self._left -= body
        self.received += body
        self._figures.bytes += body
        if self._rate > 0:
            self._budget -= body
            if self._budget <= 0 and not self._paused and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()
        if self._left == 0:  # the whole body: again, on the same connection
            self.bodies += 1
            self._left = -1
            assert self._transport is not None
            self._transport.write(self._request)

    def tick(self) -> None:
        """TICK_S passed: read another rate * TICK_S bytes (at most two ticks' worth)."""
        self._budget = min(self._budget + self._rate * TICK_S, 2 * self._rate * TICK_S)
        if self._paused and self._budget > 0 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def stop(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            if self._first is False:
                self._figures.finished += 1
            self._transport.abort()

    def _fail(self, message: str) -> None:
        self._figures.errors.append(message)
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._first:
            self._figures.receiving -= 1
        if not self.closed.done():
            self.closed.set_result(None)

    def eof_received(self) -> bool | None:
        self._fail("closed by the server")
        return None


async def run_readers(port: int, paths: list[str], rate: float, seconds: float, *,
                      first_source: int = 0, stop: asyncio.Event | None = None,
                      figures: Figures | None = None,
                      readers: list[Reader] | None = None) -> Figures:
    """Open one reader per path (ramped), read for `seconds` or until `stop`."""
    loop = asyncio.get_running_loop()
    figures = figures if figures is not None else Figures()
    readers = readers if readers is not None else []
    deadline = loop.time() + seconds
    stop = stop or asyncio.Event()

    async def connect(index: int, path: str) -> None:
        started = time.monotonic()
        try:
            _, reader = await loop.create_connection(
                lambda: Reader(path, rate, figures, started), "127.0.0.1", port,
                local_addr=(source_address(first_source + index, 8), 0))
        except OSError as exc:
            figures.errors.append(f"connect: {exc}")
            return
        readers.append(reader)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            for reader in readers:
                reader.tick()

    async def lag_probe() -> None:
        while True:
            expected = loop.time() + LAG_PROBE_S
            await asyncio.sleep(LAG_PROBE_S)
            figures.lags.append(max(0.0, loop.time() - expected))

    ticking = asyncio.create_task(ticker())
    probing = asyncio.create_task(lag_probe())
    ramp_started = loop.time()
    connecting = []
    for index, path in enumerate(paths):
        connecting.append(asyncio.create_task(connect(index, path)))
        if len(connecting) % RAMP_BATCH == 0:
            await asyncio.sleep(RAMP_PAUSE_S)
    figures.ramp_s = loop.time() - ramp_started
    await asyncio.gather(*connecting)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([stopping], timeout=max(0.0, deadline - loop.time()))
    stopping.cancel()
    ticking.cancel()
    probing.cancel()
    for reader in readers:
        reader.stop()
    return figures


def main() -> None:
    """The reader process (see the module docstring)."""
    port, rate, seconds, first_source = (int(sys.argv[1]), float(sys.argv[2]),
                                         float(sys.argv[3]), int(sys.argv[4]))
    paths = sys.stdin.readline().split()
    raise_fd_limit()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        figures = Figures()
        readers: list[Reader] = []

        def report() -> None:
            print(json.dumps(figures.as_dict(readers) | {"ttfb": []}), flush=True)

        def commands() -> None:  # a thread: stdin blocks
            for _ in sys.stdin:
                loop.call_soon_threadsafe(report)
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=commands, daemon=True).start()
        await run_readers(port, paths, rate, seconds, first_source=first_source, stop=stop,
                          figures=figures, readers=readers)
        print(json.dumps(figures.as_dict(readers)), flush=True)

    asyncio.run(run())


if __name__ == "__main__":
    main()
