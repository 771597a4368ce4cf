"""Stopping a long-running command on SIGTERM or SIGINT, with no work in a signal handler.

Python runs a signal handler in the main thread between two bytecodes, wherever
that thread is: inside `start()`, inside a lock it holds, inside an earlier
handler's `stop()`. A handler that stops the process from there races with
the code it interrupts (a lock taken twice, a part stopped twice, a signal
before the handler exists killing the process outright). Here the handler
does nothing at all: the interpreter writes the signal's number to a pipe
(`signal.set_wakeup_fd`) and the main thread reads it when it is ready to.
"""

from __future__ import annotations

import os
import signal
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _noted(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the wakeup pipe already holds the signal's number."""


class StopSignals:
    """Catches SIGTERM and SIGINT while the block runs; `wait` returns the first one.

    Enter it in the main thread before anything starts: a signal that arrives
    during start-up is kept, and `wait` returns at once after start-up. Later
    signals (a second Ctrl-C during shutdown) are ignored. On leaving, the
    previous wakeup descriptor is restored, and the previous handlers too unless a
    stop signal was received: then the process is on its way out, and a signal sent
    while it finishes (interpreter shutdown, thread joins) must not kill it with the
    default action, so stop signals stay ignored.
    """

    def __init__(self) -> None:
        self._read = self._write = -1
        self._previous_fd = -1
        self._previous: dict[int, Any] = {}
        self.received: signal.Signals | None = None

    def __enter__(self) -> StopSignals:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # the interpreter never blocks in a handler
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._previous = {signum: signal.signal(signum, _noted) for signum in STOP_SIGNALS}
        return self

    def wait(self) -> signal.Signals:
        """Block until SIGTERM or SIGINT has arrived (since entering); which one."""
        while True:
            for number in os.read(self._read, 64):
                if number in STOP_SIGNALS:
                    self.received = signal.Signals(number)
                    return self.received

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if self.received is None else signal.SIG_IGN)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)
