"""The one way tests wait for something to happen.

A wait is a hang guard, never a speed assertion: the timeout only bounds how
long a broken build takes to fail. Poll a condition the code exposes (a state
in the store, a line in a log, a port that accepts) instead of sleeping a
guessed time; to show that something did NOT happen, wait for a later event
that proves the moment has passed, then assert.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float = 30.0, *,
               interval_s: float = 0.05, ignoring: tuple[type[BaseException], ...] = (),
               describe: Callable[[], object] | str = "") -> T:
    """Call `condition` until it returns a truthy value, and return that value.

    An exception of one of the `ignoring` types counts as "not yet" (e.g. a
    server that is restarting refuses connections). When `timeout_s` passes,
    the test fails with an AssertionError that says what was awaited: `describe`
    (text, or a callable read at that moment, such as a log file's read_text)
    and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = condition()
        except ignoring as exc:
            value, last = None, f"{exc.__class__.__name__}: {exc}"  # type: ignore[assignment]
        else:
            last = repr(value)
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = describe() if callable(describe) else describe
            raise AssertionError(f"condition not met within {timeout_s} s (last: {last})"
                                 + (f"\n{detail}" if detail else ""))
        time.sleep(interval_s)


def accepts_connections(host: str, port: int) -> bool:
    """True when a TCP connection to host:port succeeds (closed again at once)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0
