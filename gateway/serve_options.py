"""What the long-running `fleetflash ... serve` commands share: ``-v`` and the log format."""

from __future__ import annotations

import logging

import click

verbose_option = click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")


def log_to_stderr(verbose: bool) -> None:
    """Log INFO (DEBUG with ``-v``) and above to stderr, with time, level and logger."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
