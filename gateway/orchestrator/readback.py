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

from firmware_payloads import ResetKind
from gateway.domain import DeliveryMethod, RunProgress
from gateway.domain import update_signals as sig
from gateway.orchestrator.context import StepContext, versions_behind
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


def reset_for_silent_staging(ctx: StepContext, installed: dict[str, str]) -> bool:
    """True when VERIFY should reset the host once before reading the versions again:
    the BMC took a SimpleUpdate or push, its task ended (WAIT_BACK came after it), no
    host reset was made in this attempt, and a planned component that activates at a
    host reset (its package's reset kind ``host``) is still behind. Some BMCs stage such
    images with no hint at all (docs/interop.md, "staged-silently-until-host-reset");
    the node is in its drained slot or window, where a task's ResetRequired gets the same
    reset. A reset flashes nothing: whatever it does not activate is named at the
    step's timeout."""
    if (ctx.run.method in (None, DeliveryMethod.MSC.value) or ctx.progress.host_reset_sent
            or ctx.progress.update_intent is None):
        return False
    host = {pkg.component for pkg in ctx.manifest.packages
            if pkg.id in ctx.run.packages and pkg.reset == ResetKind.HOST}
    return bool(host) and bool(versions_behind(ctx, installed, host))


def behind_note(progress: RunProgress, behind: list[str]) -> list[str]:
    """What VERIFY records as still behind, saying so when the BMC reported the update
    task completed (and whether the host was reset since): a BMC that says completed
    while the versions did not change is named, not just timed out."""
    said = progress.bmc_said or ""
    if not (behind and said.startswith("task Completed")):
        return behind
    reset = " and the host was reset" if progress.host_reset_sent else ""
    return [f"the BMC reported the update task completed{reset}, but versions did not "
            f"change: {behind[0]}", *behind[1:]]
