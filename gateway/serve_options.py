"""What the long-running `fleetflash ... serve` commands share: ``-v``, the log format,
and running a part until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

import click

from gateway.stop_signals import StopSignals

LOG = logging.getLogger(__name__)


class Stoppable(Protocol):
    def stop(self) -> None: ...


PartT = TypeVar("PartT", bound=Stoppable)

verbose_option = click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")


def log_to_stderr(verbose: bool) -> None:
    """Log INFO (DEBUG with ``-v``) and above to stderr, with time, level and logger."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve_until_stopped(start: Callable[[], PartT], ready: Callable[[PartT], None]) -> None:
    """Start a part (`start` builds and starts it, turning its errors into click's), call
    `ready` with it, and run it until SIGTERM or SIGINT; then stop it.

    The signals are caught from before start-up: one that arrives while the part starts
    stops it once it runs (a stop during start-up would race with it); see
    gateway/stop_signals.py.
    """
    with StopSignals() as stop_signals:
        running = start()
        try:
            ready(running)
            received = stop_signals.wait()
            LOG.info("%s: stopping", received.name)
        finally:
            running.stop()
