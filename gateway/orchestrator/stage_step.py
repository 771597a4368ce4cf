"""The STAGE step of staged activation (see gateway/orchestrator/staging.py for the
design and the progress keys): check the node as PRECHECK does, hand the components
that activate at a host reset to the BMC with apply time OnReset, follow the task,
rest in STAGED. Re-entrant: after a crash it adopts the task its request made."""

from __future__ import annotations

import logging
from dataclasses import replace

from gateway.domain import (
    DeliveryMethod,
    NoDeliveryMethodError,
    NodeStep,
    RunProgress,
    choose_delivery,
)
from gateway.orchestrator.context import Advance, Outcome, Stay, StepContext
from gateway.orchestrator.delivery import adopt_task, downgrades, send_update
from gateway.orchestrator.errors import StepFailedError
from gateway.orchestrator.monitor_notes import task_failure
from gateway.orchestrator.staging import (
    APPLY_ON_RESET,
    NOTHING_STAGED_NOTE,
    stageable,
    staged_components,
)
from gateway.orchestrator.task_follow import look_at_task
from gateway.redfish import TaskRef

LOG = logging.getLogger(__name__)
# OpenBMC's bmcweb leaves the task of an image applied OnReset in TaskState Stopping
# until the reset (INTEROP-QUIRKS: task-stopping-while-staged). A task the BMC forgot
# (succeeded None) is taken as staged as well: VERIFY, after the reset, decides.
STAGED_TASK_STATE = "Stopping"


def stage(ctx: StepContext) -> Outcome:
    """Check the node as PRECHECK does, then stage what can be staged, and rest."""
    if ctx.progress.stage_intent is not None:
        return _follow(ctx)
    # steps.py lists this handler among its own: imported here, not at module level.
    from gateway.orchestrator.node_inventory import capabilities_of
    from gateway.orchestrator.steps import precheck

    checked = precheck(ctx)
    if not isinstance(checked, Advance) or checked.step is NodeStep.SKIPPED:
        return checked
    fields = dict(checked.fields)
    components = stageable(ctx.manifest, fields["packages"])
    caps = capabilities_of(ctx.known_node())
    why = "no package of the image activates at a host reset with its prerequisites met"
    method: DeliveryMethod | None = None
    if components and (caps is None or APPLY_ON_RESET not in caps.apply_times):
        why = "the BMC does not offer @Redfish.OperationApplyTime OnReset"
    elif components and caps is not None:
        # The update CD cannot stage: it runs on the host, which then reboots.
        preference = [m for m in ctx.cluster.delivery if m is not DeliveryMethod.MSC]
        try:
            method = choose_delivery(caps, preference, ctx.media_url().split(":", 1)[0])
        except NoDeliveryMethodError as exc:
            why = f"staging needs SimpleUpdate or multipart push: {exc}"
    targets = ctx.client().firmware_targets(components) if method is not None else None
    if method is not None and targets is None:
        # Without Targets the BMC would apply the whole image now, the BMC firmware too.
        why, method = "the BMC lists no FirmwareInventory member for " + ", ".join(components), None
    if method is None:
        LOG.info("node %s: %s; its whole update runs in its window", ctx.node, why)
        return Advance(NodeStep.STAGED, {**fields, "error": f"{NOTHING_STAGED_NOTE}: {why}; "
                                         "the whole update runs in its window"},
                       progress=RunProgress(staged=()))
    assert targets is not None
    ctx.mark(replace(ctx.progress, stage_checked=fields, stage_method=method,
                     staged=tuple(components)))
    return _send(ctx, method, targets)


def _send(ctx: StepContext, method: DeliveryMethod, targets: list[str]) -> Outcome:
    again = ctx.progress.stage_intent is not None
    ctx.mark(replace(ctx.progress, stage_intent=ctx.now, stage_epoch=ctx.epoch))
    ref = send_update(ctx, method, targets, apply_time=APPLY_ON_RESET,
                      force=downgrades(ctx), again=again)
    return _task_sent(ctx, ref)


def _task_sent(ctx: StepContext, ref: TaskRef | None) -> Outcome:
    if ref is None:  # accepted without a task to follow: only the reset will tell
        return _staged(ctx)
    return Stay(0.1, "staging", progress=replace(ctx.progress, stage_task=ref.monitor_uri,
                                                 stage_task_uri=ref.task_uri))


def _follow(ctx: StepContext) -> Outcome:
    """Follow the staging task; resumed after a crash, adopt the task the request made."""
    task, intent = ctx.progress.stage_task, ctx.progress.stage_intent
    if not task:
        assert intent is not None  # _follow runs once the intent is stored
        adopted = adopt_task(ctx, intent)
        if adopted is not None:
            return _task_sent(ctx, adopted)
        LOG.info("node %s: no staging task found after a restart; staging again", ctx.node)
        return _resend(ctx)
    status = look_at_task(ctx, staging=True)
    if status is None:  # a new monitor still says 404 (iDRAC): look again shortly
        return Stay(1.0, "staging task not there yet (404)")
    if status.state == STAGED_TASK_STATE:
        return _staged(ctx)  # bmcweb: the image waits for its reset (not a failure)
    if not status.finished:
        return Stay(min(status.retry_after, ctx.settings.poll_max_s), f"task {status.state}")
    if status.succeeded is False:
        resent = ctx.progress.stage_resent
        if (ctx.progress.stage_epoch != ctx.epoch
                and resent < ctx.settings.max_redeliveries):
            # The BMC was reading from a gateway process that is gone: send it again.
            ctx.mark(replace(ctx.progress, stage_resent=resent + 1))
            return _resend(ctx)
        raise StepFailedError("staging " + task_failure(status.state, status.message_ids,
                                                        status.messages))
    return _staged(ctx)


def _resend(ctx: StepContext) -> Outcome:
    components = staged_components(ctx.progress)
    targets = ctx.client().firmware_targets(components)
    if targets is None:
        raise StepFailedError("the BMC no longer lists FirmwareInventory members for "
                              + ", ".join(components))
    method = ctx.progress.stage_method
    if method is None:
        raise StepFailedError("staging was sent without a recorded delivery method")
    return _send(ctx, method, targets)


def _staged(ctx: StepContext) -> Outcome:
    fields = dict(ctx.progress.stage_checked or {})
    kept = RunProgress(staged=ctx.progress.staged, stage_method=ctx.progress.stage_method,
                       stage_epoch=ctx.progress.stage_epoch,
                       stage_resent=ctx.progress.stage_resent)
    return Advance(NodeStep.STAGED, fields, progress=kept)


