"""Handlers of the node steps other than delivery (see gateway/orchestrator/delivery.py).

Each handler is re-entrant: called again after a crash in the same step it
reads the BMC's state before acting, so it never repeats a side effect that
already happened (docs/orchestration.md, "Executor").
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from firmware_payloads import is_downgrade
from gateway.domain import (
    NOT_APPLICABLE_NOTE,
    OTHER_MODEL_NOTE,
    PATH,
    UP_TO_DATE_NOTE,
    Applicability,
    DeliveryMethod,
    Health,
    NoDeliveryMethodError,
    NodeStep,
    PowerState,
    after_failure,
    choose_delivery,
    monitor_polls,
    retry_after_silence,
)
from gateway.orchestrator import manager_steps, readback, staging
from gateway.orchestrator.context import Advance, Outcome, Stay, StepContext, versions_behind
from gateway.orchestrator.delivery import deliver, redeliver
from gateway.orchestrator.errors import HookError, StepFailedError
from gateway.orchestrator.hooks import run_hook
from gateway.orchestrator.inventory import applicability
from gateway.orchestrator.monitor_notes import remember, task_failure, task_said
from gateway.orchestrator.node_inventory import quick_inventory, stale_read
from gateway.orchestrator.own_state import make_safe, operator_state
from gateway.orchestrator.signals import act_on, reported
from gateway.orchestrator.stage_step import stage
from gateway.orchestrator.task_follow import look_at_task
from gateway.redfish import RedfishError

LOG = logging.getLogger(__name__)
RESET_REQUIRED = "ResetRequired"
AWAIT_TO_ACTIVATE = "AwaitToActivate"
# Steps from the update's delivery on: a failure in them may leave versions changed.
_FLASHING = frozenset(PATH[PATH.index(NodeStep.DELIVER):])


# Versions the campaign's inventory read this recently are not read again by PRECHECK
# (the first wave starts right after the inventory). Delivery is safe either way: an
# update CD or a BMC applies only what is below target, and VERIFY reads the versions.
INVENTORY_FRESH_S = 60.0


def precheck(ctx: StepContext) -> Outcome:
    """The node must be healthy and still need the image; choose the delivery method."""
    known = ctx.known_node()
    fresh = (known is not None and known.firmware and
             (ctx.now - known.observed_at).total_seconds() < INVENTORY_FRESH_S)
    inventory = quick_inventory(ctx, dict(known.firmware) if fresh and known else None,
                                known)
    ctx.observe(inventory)
    if inventory.observed_health() is not Health.UP:
        return Stay(ctx.settings.probe_interval_s,
                    f"not healthy (power {inventory.power_state}, health {inventory.health})")
    if ctx.run.model and inventory.model != ctx.run.model:
        raise StepFailedError(f"model changed from {ctx.run.model!r} to {inventory.model!r} "
                              "since the campaign was planned")
    installed = inventory.installed_versions()
    fit = applicability(ctx.manifest, inventory.model, installed,
                        allow_downgrade=ctx.campaign.allow_downgrade)
    if not fit.packages:
        # Say which: up to date is a covered node, anything else is an exclusion
        # (gateway.domain.exclusion_of) and must not end the campaign "completed".
        note = UP_TO_DATE_NOTE
        if fit.target.applicability is not Applicability.UP_TO_DATE:
            prefix = OTHER_MODEL_NOTE if fit.other_model else NOT_APPLICABLE_NOTE
            note = f"{prefix}: " + "; ".join(fit.reasons)
        if DeliveryMethod.MSC in ctx.cluster.delivery:
            _eject_lost_cd(ctx)
        return Advance(NodeStep.SKIPPED, {"error": note[:1000],
                                          "before_versions": installed,
                                          "after_versions": installed})
    scheme = ctx.media_url().split(":", 1)[0]
    preference = ctx.cluster.delivery
    if ctx.campaign.allow_downgrade and any(
            is_downgrade(p, installed) for p in ctx.manifest.packages if p.id in fit.packages):
        # The update CD applies only newer packages; a BMC's update service takes an
        # older one when told ForceUpdate (docs/orchestration.md, downgrades).
        preference = tuple(m for m in preference if m is not DeliveryMethod.MSC)
        if not preference:
            raise StepFailedError("a downgrade needs SimpleUpdate or multipart push (with "
                                  "ForceUpdate); this cluster's delivery allows only msc")
    try:
        method = choose_delivery(inventory.capabilities, preference, scheme)
    except NoDeliveryMethodError as exc:
        raise StepFailedError(str(exc)) from exc
    if method is DeliveryMethod.MSC and (busy := operator_state(ctx)):
        # MSC would replace the operator's media or boot override: another method, or none.
        caps = dataclasses.replace(inventory.capabilities, virtual_media_cd=False)
        try:
            method = choose_delivery(caps, preference, scheme)
        except NoDeliveryMethodError as exc:
            raise StepFailedError(f"MSC cannot be used: {busy} (left alone); {exc}") from exc
        LOG.info("node %s: %s; delivering by %s instead of MSC", ctx.node, busy, method.value)
    following = (NodeStep.DRAIN if ctx.cluster.drain or ctx.cluster.manager
                 else NodeStep.DELIVER)
    return Advance(following, staging.precheck_fields(ctx, {
        "method": method.value, "model": inventory.model, "before_versions": installed,
        "packages": fit.packages, "target_versions": fit.versions}))


def _eject_lost_cd(ctx: StepContext) -> None:
    """A node found with nothing to do may still hold the gateway's update CD, when the
    database lost the record of its delivery: ejected (own_state). A slot the BMC does
    not let the gateway read changes nothing about the skip (transient errors retry)."""
    try:
        make_safe(ctx)
    except RedfishError as exc:
        if exc.transient:
            raise
        LOG.warning("node %s: could not look at its virtual CD: %s", ctx.node, exc)


def drain(ctx: StepContext) -> Outcome:
    if ctx.cluster.manager is not None:
        return manager_steps.drain(ctx, ctx.cluster.manager)
    if ctx.cluster.drain is not None:
        _hook(ctx, "drain")
    return Advance(NodeStep.DELIVER)


def undrain(ctx: StepContext) -> Outcome:
    if ctx.cluster.manager is not None:
        return manager_steps.undrain(ctx, ctx.cluster.manager)
    if ctx.cluster.undrain is not None:
        _hook(ctx, "undrain")
    return Advance(NodeStep.DONE)


def _hook(ctx: StepContext, action: str) -> None:
    hook = ctx.cluster.drain if action == "drain" else ctx.cluster.undrain
    assert hook is not None
    try:
        run_hook(hook, action=action, node=ctx.node, cluster=ctx.cluster.name,
                 campaign=ctx.campaign.id)
    except HookError as exc:
        raise StepFailedError(str(exc)) from exc


def monitor(ctx: StepContext) -> Outcome:
    """Follow the BMC's task (Retry-After honoured) or, without one (MSC), the versions.

    How long it waits between looks grows with the time spent, starts at 95 % of the
    campaign's typical MONITOR time once nodes finished, and is stretched while the BMC
    pushes its events, which wake the node at once (gateway.domain.polling).
    """
    elapsed = (ctx.now - (ctx.run.step_started_at or ctx.now)).total_seconds()
    task = ctx.progress.task
    polls = monitor_polls(elapsed, poll_max_s=ctx.settings.poll_max_s,
                          typical_s=ctx.typical_monitor_s, following_task=bool(task),
                          events=ctx.events, event_fallback_s=ctx.settings.event_fallback_s)
    poll, short = polls.next_s, polls.retry_s
    if not task and elapsed < 0.1 and not _may_redeliver(ctx):
        # Just delivered: the update CD has not even booted, nothing to look at yet.
        return Stay(max(poll, 0.1), "update CD starting")
    try:
        if task:
            status = look_at_task(ctx)  # None: a new monitor still says 404 (iDRAC)
            ctx.streaks.pop(_silent_key(ctx), None)  # it answered
            if status is None:
                return Stay(short, "task monitor not there yet (404)")
            found = reported(ctx, status)
            # Stopping awaiting a reset (bmcweb's staged image) goes on to the reset.
            if not status.finished and not status.awaits_reset:
                return act_on(ctx, found) or Stay(
                    min(status.retry_after, poll), f"task {status.state}",
                    progress=remember(ctx, task_said(status), status.percent))
            if status.succeeded is False:
                if _may_redeliver(ctx):
                    return Stay(ctx.settings.poll_max_s, "redelivered",
                                progress=redeliver(ctx))
                if all(f.redeliverable for f in found) and (again := act_on(ctx, found)):
                    return again
                raise StepFailedError(task_failure(status.state, status.message_ids,
                                                   status.messages))
            # Completed: a failure reported elsewhere contradicts it (versions decide).
            said = task_said(status)
            # ResetRequired, or images awaiting activation without asking for it (iLO,
            # iDRAC "reboot pending": docs/interop.md, "staged-until-host-reset").
            reset = any(m.endswith((RESET_REQUIRED, AWAIT_TO_ACTIVATE))
                        for m in status.message_ids)
            # A staged node's reset activates what was staged, whatever this task says.
            reset = reset or bool(staging.staged_components(ctx.progress))
            return act_on(ctx, found, task_said=said) or Advance(
                NodeStep.RESET if reset else NodeStep.WAIT_BACK,
                progress=replace(ctx.progress, bmc_said=said))
        still = _still_behind(ctx)
        installed = ctx.client().component_versions(only=still)
        ctx.streaks.pop(_silent_key(ctx), None)  # it answered
    except RedfishError as exc:
        if not exc.transient:
            raise
        ctx.clients.drop(ctx.node, exc)  # e.g. the BMC is restarting into new firmware
        # Each look at a silent BMC is a fresh login: back off while it stays silent.
        misses = ctx.streaks[_silent_key(ctx)] = ctx.streaks.get(_silent_key(ctx), 0) + 1
        return Stay(retry_after_silence(short, misses, poll_max_s=ctx.settings.poll_max_s),
                    "BMC not answering")
    behind = versions_behind(ctx, installed, still)
    if not behind:
        # This answer already counts as the first good one of WAIT_BACK.
        ctx.streaks[_streak_key(ctx)] = 1
        return Advance(NodeStep.WAIT_BACK)
    _mark_behind(ctx, behind)  # named if the step times out
    # A reported failure is weighed against every version, read afresh after a partial read.
    full = installed if still is None else None
    if (outcome := act_on(ctx, reported(ctx), installed=full)) is not None:
        return outcome  # the BMC (or its update CD) reported a failure: no need to wait
    if _may_redeliver(ctx):
        settle = ctx.progress.settle_until
        if settle is None:
            # The CD was reading from a gateway process that is gone: let it finish or
            # fail (it reboots to disk either way) before booting it again.
            until = ctx.now + timedelta(seconds=ctx.settings.cd_settle_s)
            ctx.mark(replace(ctx.progress, settle_until=until))
        elif ctx.now >= settle:
            try:
                return Stay(poll, "update CD booted again", progress=redeliver(ctx))
            except RedfishError as exc:
                if exc.status != 409:  # 409: the host is still busy with the old CD run
                    raise
    return Stay(poll, "update CD still applying")


def _may_redeliver(ctx: StepContext) -> bool:
    """True when the delivery was made by an earlier gateway process (its media server
    died with it), the redelivery allowance is not used up and the campaign has not ended."""
    return (ctx.progress.epoch not in (None, ctx.epoch)
            and ctx.progress.redeliveries < ctx.settings.max_redeliveries
            and ctx.campaign_open())


def reset(ctx: StepContext) -> Outcome:
    """Reset the host when the task asked for it. Resumed after a crash with the reset
    possibly sent, a host not plainly On is taken as resetting; an On host is reset
    (again): a spare host reset activates staged firmware, it flashes nothing."""
    client = ctx.client()
    if ctx.progress.host_reset_sent and (
            client.power_state() is not PowerState.ON):
        return Advance(NodeStep.WAIT_BACK)
    ctx.mark(replace(ctx.progress, host_reset_sent=ctx.now))
    client.reset_host()
    return Advance(NodeStep.WAIT_BACK)


def wait_back(ctx: StepContext) -> Outcome:
    """Several consecutive good answers from the BMC with the host powered on.

    One answer is one authenticated read of the ComputerSystem on the node's session:
    a BMC that restarted answers it only after the service root and a fresh login did
    (a dropped client logs in again first), so it proves as much as a separate probe
    of the service root would, for one request instead of three."""
    key = _streak_key(ctx)
    try:
        good = ctx.client().power_state() is PowerState.ON
    except RedfishError as exc:
        ctx.clients.drop(ctx.node, exc)
        good = False
    ctx.streaks[key] = ctx.streaks.get(key, 0) + 1 if good else 0
    if ctx.streaks[key] >= ctx.settings.good_answers:
        ctx.streaks.pop(key, None)
        return Advance(NodeStep.VERIFY)
    return Stay(ctx.settings.probe_interval_s, f"{ctx.streaks[key]} good answers")


def _streak_key(ctx: StepContext) -> str:
    return f"{ctx.campaign.id}/{ctx.node}/{ctx.run.attempt}"


def _silent_key(ctx: StepContext) -> str:
    """Where MONITOR counts the looks in a row its BMC did not answer."""
    return f"{_streak_key(ctx)}/silent"


def verify(ctx: StepContext) -> Outcome:
    """Versions decide: every target component must report at least its target version."""
    try:
        # A BMC discovered again (after its own update, client_pool) is inventoried in
        # full, capabilities too; the versions come with that read, not read twice.
        seen = stale_read(ctx)
        # Else the cached FirmwareInventory members: one GET per component, not a walk
        # from the service root (the client re-discovers them if they moved).
        installed = (seen.installed_versions() if seen is not None
                     else ctx.client().component_versions())
    except RedfishError as exc:
        if not exc.transient:
            raise
        ctx.clients.drop(ctx.node, exc)
        return Stay(ctx.settings.poll_max_s, "BMC not answering")
    behind = versions_behind(ctx, installed)
    if behind:
        # A BMC may still be restarting into its new version: wait until the step times
        # out, unless it reported the activation failed (even after a completed task).
        said = ctx.progress.bmc_said
        if outcome := act_on(ctx, reported(ctx), installed=installed, task_said=said,
                             may_redeliver=False):
            return outcome
        if readback.reset_for_silent_staging(ctx, installed):
            return Advance(NodeStep.RESET)  # completed, no hint, host images unchanged
        _mark_behind(ctx, readback.behind_note(ctx.progress, behind))
        return Stay(ctx.settings.poll_max_s, "versions not reached yet")
    # The node shows its new versions now.
    ctx.observe(seen if seen is not None else quick_inventory(ctx, installed))
    return Advance(NodeStep.EJECT, {"after_versions": installed})


def _still_behind(ctx: StepContext) -> set[str] | None:
    """The components MONITOR found behind at its last look in this attempt (None
    before one: all are read). Only they are read again: one at its target is not
    re-read before VERIFY, which reads every one (``done`` needs that full read)."""
    parts = (ctx.progress.behind or "").split("; ")
    still = {c for c in ctx.run.target_versions if any(p.startswith(f"{c} ") for p in parts)}
    return still or None


def _mark_behind(ctx: StepContext, behind: list[str]) -> None:
    """Record which components are still behind (named if the step times out)."""
    said = "; ".join(behind)
    if ctx.progress.behind != said:
        ctx.mark(replace(ctx.progress, behind=said))


def eject(ctx: StepContext) -> Outcome:
    make_safe(ctx)
    return Advance(NodeStep.POSTCHECK)


def postcheck(ctx: StepContext) -> Outcome:
    """The node must be healthy again. Its versions are the ones VERIFY read moments
    ago, after the BMC came back (one read of the system instead of four)."""
    inventory = quick_inventory(ctx, dict(ctx.run.after_versions) or None)
    ctx.observe(inventory)
    if inventory.observed_health() is not Health.UP:
        return Stay(ctx.settings.probe_interval_s, "not healthy yet")
    following = (NodeStep.UNDRAIN if ctx.cluster.undrain or ctx.cluster.manager
                 else NodeStep.DONE)
    return Advance(following, {"after_versions": inventory.installed_versions()})


def failed(ctx: StepContext) -> Outcome:
    """Make a failed node safe, read its versions back (the node shows them), then
    QUARANTINED, or PARTIAL when only some planned components changed (gateway.domain
    .after_failure); either waits for an operator. The read-back (and what making safe
    undoes under a CD still running) waits for the update's activation to end
    (gateway.orchestrator.readback)."""
    failed_in = ctx.progress.failed_in
    if not ctx.run.target_versions or (failed_in is not None and failed_in not in _FLASHING):
        make_safe(ctx)
        return Advance(NodeStep.QUARANTINED)  # it failed before anything could change
    if (pending := readback.activation_pending(ctx)) is not None:
        return Stay(ctx.settings.probe_interval_s, f"waiting for {pending}")
    make_safe(ctx)
    installed = ctx.client().component_versions()  # the engine retries a BMC restarting
    ctx.observe(quick_inventory(ctx, installed))
    step, note = after_failure(ctx.run.before_versions, ctx.run.target_versions, installed)
    return Advance(step, {"error": f"{ctx.run.error}; {note}"[:1000],
                          "after_versions": installed})


HANDLERS: dict[NodeStep, Callable[[StepContext], Outcome]] = {
    NodeStep.STAGE: stage,
    NodeStep.PRECHECK: precheck,
    NodeStep.DRAIN: drain,
    NodeStep.DELIVER: deliver,
    NodeStep.MONITOR: monitor,
    NodeStep.RESET: reset,
    NodeStep.WAIT_BACK: wait_back,
    NodeStep.VERIFY: verify,
    NodeStep.EJECT: eject,
    NodeStep.POSTCHECK: postcheck,
    NodeStep.UNDRAIN: undrain,
    NodeStep.FAILED: failed,
}
