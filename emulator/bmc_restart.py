"""A BMC restart: its network service goes down for a while, then comes back.

Bmc.restart_bmc starts ``run`` on its own short-lived thread (the HTTP worker answers
at once, as a real BMC does); the port is closed and reopened through the BMC's
PortControl, which the server that hosts it provides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from emulator.faults import FaultKind
from emulator.tasks import Task

if TYPE_CHECKING:
    from emulator.bmc import Bmc

LOG = logging.getLogger(__name__)

# A real BMC finishes the task, then reboots a moment later; a client that has
# just read the finished task gets this long to log out before the port closes.
RESTART_GRACE_S = 1.0
# Manager.Reset: long enough for the HTTP worker to send the 204 first.
RESET_ANSWER_S = 0.05
# The server keeps a closed port bound (emulator/server/listening.py), but
# where a socket cannot stop listening it closes it, and then an outgoing
# connection may take the number while the BMC is down (a port picked by the
# kernel lies in the ephemeral range). Keep trying for a while (that
# connection is short-lived) instead of leaving the BMC down for good.
REOPEN_ATTEMPTS = 100
REOPEN_RETRY_S = 0.1


class PortControl(Protocol):
    """How a BMC takes its own network service down and up (a reboot)."""

    def close(self) -> None: ...

    def reopen(self) -> None: ...


def run(bmc: Bmc, reason: str, on_back: Callable[[], None] | None,
        after_task: Task | None) -> None:
    """The restart Bmc.restart_bmc describes; clears bmc.manager_restarting at its end."""
    if after_task is None:
        time.sleep(RESET_ANSWER_S)
    elif after_task.wait_seen_finished(bmc.timings.restart_delay_s):
        time.sleep(RESTART_GRACE_S)
    try:
        bmc.audit.record(bmc.id, "bmc_restart", component="BMC", reason=reason)
        if bmc.port_control is not None:
            bmc.port_control.close()
        if not bmc.sessions_survive_restart:
            bmc.sessions.clear()
        if "task-lost-on-bmc-restart" in bmc.quirks:
            bmc.tasks.clear()  # kept in memory only (bmcweb, iDRAC)
            bmc.jobs.clear()
        time.sleep(bmc.timings.bmc_restart_s)
        while bmc.faults.active(FaultKind.RESET_HANGS):
            time.sleep(0.05)
        if on_back is not None:
            on_back()
    except Exception:
        LOG.exception("BMC %s: restart failed", bmc.id)
    finally:
        with bmc.lock:
            bmc.manager_restarting = False
        if bmc.port_control is not None and not bmc.faults.active(FaultKind.UNREACHABLE):
            _reopen_port(bmc.id, bmc.port_control)


def _reopen_port(bmc_id: str, port_control: PortControl) -> None:
    for attempt in range(1, REOPEN_ATTEMPTS + 1):
        try:
            port_control.reopen()
            return
        except Exception as exc:  # the server's own error type; this module knows no server
            if attempt == REOPEN_ATTEMPTS:
                LOG.error("BMC %s: port did not reopen after its restart: %s", bmc_id, exc)
                return
            time.sleep(REOPEN_RETRY_S)
