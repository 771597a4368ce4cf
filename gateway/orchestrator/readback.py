"""A failed node's version read-back waits for the end of the update's activation.

MONITOR fails a node the moment its BMC reports a failure, and that can come before
what the same run wrote has taken effect: an update CD writes a component's failure,
then restarts the BMC into the BMC firmware it wrote and reboots the host to disk,
which activates what needs a host reset (emulator and real update environments
alike). Read at once, the versions would call such a component unchanged and the node
``quarantined`` when it is in fact ``partial``. So FAILED reads the versions once the
run has ended, as the BMC says it: the update task finished; for an update CD, the
host rebooted after the run's last result (gateway.domain.update_signals); the BMC
answering again after a restart. ``activation_settle_s`` bounds the wait (a BMC that
says nothing, or a run that never ends: the versions are read anyway).
"""

from __future__ import annotations

from datetime import timedelta

from gateway.domain import DeliveryMethod
from gateway.domain import update_signals as sig
from gateway.orchestrator.context import StepContext
from gateway.orchestrator.signals import update_started
from gateway.redfish import RedfishError, TaskRef


def activation_pending(ctx: StepContext) -> str | None:
    """What the read-back still waits for (None: read the versions now). An answer that
    cannot be read (a BMC answering nonsense) says nothing: waited out like silence."""
    started = ctx.run.step_started_at or ctx.now
    if ctx.now >= started + timedelta(seconds=ctx.settings.activation_settle_s):
        return None
    try:
        client = ctx.client()
        if ctx.progress.task and not client.task_status(
                TaskRef(ctx.progress.task, ctx.progress.task_uri)).finished:
            return "the update task to finish"
        if ctx.run.method not in (None, DeliveryMethod.MSC.value) or not (
                ctx.progress.reset_intent):
            return None  # no update CD was booted: nothing more runs on the host
        since = update_started(ctx)
        signals = [*ctx.pushed(since), *client.log_signals(
            since, slack=ctx.progress.cd_booted_at is None)]
    except RedfishError as exc:
        if not exc.transient:
            return "the update's end (what the BMC says of it cannot be read)"
        ctx.clients.drop(ctx.node, exc)  # e.g. restarting into the BMC firmware the CD wrote
        return "the BMC to answer again"
    if sig.host_rebooted_after_results(signals) is False:
        return "the update CD's run to end (its reboot to disk)"
    return None
