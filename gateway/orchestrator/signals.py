"""MONITOR listens: failure messages a BMC reports about the node's update.

Three places say so (gateway/domain/update_signals.py): events the BMC pushed
(kept here per node, on our clock, as they arrive), messages on the update task,
and, when the BMC does not push events to us, the entries of its logs newer than
the update (an update CD writes its results to the system's log). A failure about
a component the run updates, still behind its target when the versions are read,
fails the node at once, or redelivers when a new transfer can cure it and the
allowance lasts; the step timeout stays the last resort. Versions decide: a
failure message about a component that reached its target changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from gateway.domain import DeliveryMethod, PowerState
from gateway.domain import update_signals as sig
from gateway.orchestrator.bmc_events import BmcEvent
from gateway.orchestrator.context import Outcome, Stay, StepContext, versions_behind
from gateway.orchestrator.delivery import redeliver
from gateway.orchestrator.errors import StepFailedError
from gateway.redfish import RedfishError, TaskStatus
from gateway.store import utcnow

LOG = logging.getLogger(__name__)
INBOX_DEPTH = 64  # pushed Update messages kept per node (an update makes a dozen)


class SignalInbox:
    """The Update-registry messages (and host power changes) each node's BMC pushed,
    stamped with our clock on arrival (events come from the receiver's threads; MONITOR
    reads them). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, deque[sig.UpdateSignal]] = {}

    def add(self, node_id: str, events: Iterable[BmcEvent]) -> int:
        """Keep the node's Update messages; returns how many of them report a failure."""
        now = utcnow()
        kept = [sig.UpdateSignal("event", e.message_id, e.args, e.origin, e.message, now)
                for e in events]
        # Update messages, and the host's power (the end of an update CD's run).
        kept = [s for s in kept if s.message_id.startswith("Update.") or s.is_host_power]
        if kept:
            with self._lock:
                inbox = self._nodes.setdefault(node_id, deque(maxlen=INBOX_DEPTH))
                inbox.extend(kept)
        return sum(1 for signal in kept if signal.is_failure)

    def since(self, node_id: str, since: datetime) -> tuple[sig.UpdateSignal, ...]:
        """The node's pushed messages that arrived at or after ``since``."""
        with self._lock:
            kept = tuple(self._nodes.get(node_id, ()))
        return tuple(s for s in kept if s.at is None or s.at >= since)


def update_started(ctx: StepContext) -> datetime:
    """When this attempt's update began: for an update CD, when the BMC took the reset
    that boots it; else the intent DELIVER persisted before its call (redelivery moves
    both); else the start of the current step. A message from before it belongs to a
    superseded attempt (e.g. the TransferFailed of a CD run whose media server died with
    an earlier gateway process) and never counts against this one."""
    # Set by DELIVER (gateway/orchestrator/delivery.py); the intents just before the call
    # that starts the update (a crash right after it leaves only them).
    progress = ctx.progress
    for value in (progress.cd_booted_at, progress.reset_intent, progress.update_intent):
        if value is not None:
            return value
    return ctx.run.step_started_at or ctx.now


def task_signals(status: TaskStatus) -> list[sig.UpdateSignal]:
    """The update task's messages as signals (no time: the task is this update's own)."""
    args = status.message_args or tuple(() for _ in status.message_ids)
    return [sig.UpdateSignal("task", message_id, tuple(arg), message=text)
            for message_id, arg, text in zip(status.message_ids, args, status.messages,
                                             strict=False)]


def reported(ctx: StepContext, status: TaskStatus | None = None) -> list[sig.ReportedFailure]:
    """Failures reported for the node's target components since the update began: from
    pushed events, the task (``status``) and, when the BMC does not push its events to
    us, its log entries (read now). Raises RedfishError."""
    since = update_started(ctx)
    signals = list(ctx.pushed(since))
    if status is not None:
        signals += task_signals(status)
    if not ctx.events:
        signals += ctx.client().log_signals(since, slack=ctx.progress.cd_booted_at is None)
    client = ctx.client()
    member_uris: dict[str, str] = client.known.get("member_uris") or {}
    aliases = {component: (member_uris[component],) if component in member_uris else ()
               for component in ctx.run.target_versions}
    return sig.reported_failures(signals, aliases, since)


def act_on(ctx: StepContext, failures: list[sig.ReportedFailure], *,
           installed: dict[str, str] | None = None, task_said: str | None = None,
           may_redeliver: bool = True) -> Outcome | None:
    """What reported failures mean, the versions deciding: None when every failing
    component is at its target after all; a redelivery (in MONITOR: ``may_redeliver``)
    when each failure is one a new transfer can cure and the allowance lasts; otherwise
    StepFailedError quoting the messages (and ``task_said``: the task's own word, when
    it said it completed)."""
    if not failures:
        return None
    if installed is None:
        installed = ctx.client().component_versions()
    behind = versions_behind(ctx, installed)
    failing = [f for f in failures if any(b.startswith(f"{f.component} ") for b in behind)]
    if not failing:
        LOG.info("node %s: the BMC reported %s, but the versions are at target",
                 ctx.node, "; ".join(f.signal.describe() for f in failures))
        return None
    used = ctx.progress.redeliveries
    if may_redeliver and all(f.redeliverable for f in failing) and (
            used < ctx.settings.max_redeliveries) and ctx.campaign_open():
        if ctx.run.method in (None, DeliveryMethod.MSC.value) and (
                ctx.client().power_state() is not PowerState.ON):
            # The failed CD run reboots the host to disk first; booting the CD again
            # before that would be refused (and move the update's start past the failure).
            return Stay(ctx.settings.poll_max_s, "waiting for the host to redeliver")
        LOG.warning("node %s: %s; delivering again", ctx.node,
                    "; ".join(f.signal.describe() for f in failing))
        try:
            return Stay(ctx.settings.poll_max_s, "redelivered after a failed transfer",
                        progress=redeliver(ctx))
        except RedfishError as exc:
            if exc.status != 409:  # 409: the host is still busy with the failed CD run
                raise
            return Stay(ctx.settings.poll_max_s, "host busy; redelivering when it is free")
    raise StepFailedError(sig.failure_note(failing, behind, task_said))
