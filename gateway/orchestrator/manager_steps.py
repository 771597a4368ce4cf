"""DRAIN and UNDRAIN through a cluster manager (docs/cluster-managers.md).

Reservation mode: DRAIN only checks that the node is idle inside its wave's
maintenance reservation (``inside_reservation``). Drain mode:

DRAIN asks the manager to drain the node with a reason naming the campaign, then
waits until the node is drained (its jobs finished). Before the drain is requested
the run records ``drained_by_us`` (ctx.mark persists it first), so after a crash the
node walks on to UNDRAIN and is resumed, and a node the gateway did not drain never
is. When ``max_wait_s`` passes with jobs still running the node is resumed and
skipped (default) or, with ``on_timeout = "cancel"``, its jobs are cancelled.
UNDRAIN resumes the node only while Slurm still shows the gateway's own drain: if an
operator re-drained it meanwhile (another reason), it is left to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from gateway.cluster_managers import (
    ClusterManagerError,
    ManagerSettings,
    ManagerUnreachableError,
    Mode,
    NodeCondition,
    OnTimeout,
    drain_reason,
)
from gateway.cluster_managers.config import connect
from gateway.domain import NodeStep
from gateway.orchestrator.context import Advance, Outcome, Stay, StepContext
from gateway.orchestrator.errors import StepFailedError

POLL_S = 2.0


def drain(ctx: StepContext, settings: ManagerSettings) -> Outcome:
    if settings.mode is Mode.RESERVATION:
        return inside_reservation(ctx, settings)
    manager = connect(settings)
    name = settings.name_of(ctx.node)
    reason = drain_reason(ctx.campaign.id)
    try:
        status = manager.status([name])[name]
        if not status.drained_by(ctx.campaign.id):
            if ctx.progress.drain_requested_at is None:
                if status.condition in (NodeCondition.DRAINING, NodeCondition.DRAINED):
                    return Advance(NodeStep.SKIPPED, {"error": (
                        f"drained in Slurm by someone else ({status.reason or 'no reason'}):"
                        " left alone, not updated")})
                if status.condition is NodeCondition.DOWN:
                    # It was in service when the scheduler started it (Slurm reports a
                    # node it just pinged as not responding for a moment): wait, and let
                    # the step's timeout decide. Nothing was asked of Slurm yet.
                    return Stay(POLL_S, f"Slurm reports {name} down "
                                        f"({status.reason or 'no reason'})")
                ctx.mark(replace(ctx.progress, drained_by_us=name,
                                 drain_requested_at=ctx.now))
            elif status.condition is NodeCondition.DOWN:
                return Stay(POLL_S, f"Slurm reports {name} down ({status.reason})")
            elif status.condition is not NodeCondition.IN_SERVICE:
                # Drained by us once, now someone else's reason: not ours to continue.
                raise StepFailedError(f"Slurm node {name} was re-drained by someone else "
                                      f"({status.reason}) while the gateway waited")
            # In service with our mark: the drain was asked for, or a crash came first.
            manager.drain([name], reason)
            status = manager.status([name])[name]
    except ManagerUnreachableError as exc:
        return Stay(POLL_S, f"cluster manager not answering: {exc}")
    except ClusterManagerError as exc:
        raise StepFailedError(str(exc)) from exc
    if status.condition is NodeCondition.DRAINED:
        return Advance(NodeStep.DELIVER)
    # Unset when Slurm already showed this campaign's drain (asked for in an earlier
    # attempt of a retried node): the step's timeout bounds that wait instead.
    requested = ctx.progress.drain_requested_at
    waited = ctx.now - (requested or ctx.now)
    jobs = ", ".join(str(job) for job in status.jobs) or "finishing"
    if waited.total_seconds() < settings.max_wait_s:
        return Stay(POLL_S, f"draining in Slurm: jobs {jobs} still running")
    if settings.on_timeout is OnTimeout.CANCEL:
        if ctx.progress.cancelled_jobs is None:
            ctx.mark(replace(ctx.progress, cancelled_jobs=tuple(status.jobs)))
            _call(lambda: manager.cancel_jobs(name))
        return Stay(POLL_S, f"cancelled jobs {jobs} after {settings.max_wait_s:.0f} s")
    _call(lambda: manager.resume([name]))
    progress = replace(ctx.progress, drained_by_us=None)
    return Advance(NodeStep.SKIPPED, progress=progress, fields={"error": (
        f"jobs {jobs} still running on {name} after max_wait_s {settings.max_wait_s:.0f} s: "
        "resumed and skipped (on_timeout = \"cancel\" would cancel them)")})


def inside_reservation(ctx: StepContext, settings: ManagerSettings) -> Outcome:
    """Reservation mode: the scheduler started the node once its wave's maintenance
    reservation began and Slurm showed it idle; checked again before the BMC is touched.
    Nothing is drained, so UNDRAIN has nothing to resume (the reservation is deleted
    when the wave ends, gateway/orchestrator/manager_reservations.py)."""
    name = settings.name_of(ctx.node)
    try:
        status = connect(settings).status([name])[name]
    except ManagerUnreachableError as exc:
        return Stay(POLL_S, f"cluster manager not answering: {exc}")
    except ClusterManagerError as exc:
        raise StepFailedError(str(exc)) from exc
    if status.condition is NodeCondition.DOWN:
        return Stay(POLL_S, f"Slurm reports {name} down ({status.reason or 'no reason'})")
    ours = status.drained_by(ctx.campaign.id)  # failed before, retried by an operator
    if ours and ctx.progress.drained_by_us is None:
        ctx.mark(replace(ctx.progress, drained_by_us=name))  # UNDRAIN resumes it once updated
    if not status.in_reservation or not (
            status.condition is NodeCondition.IN_SERVICE or ours):
        return Advance(NodeStep.SKIPPED, {"error": (
            f"Slurm shows {name} {status.condition.value} and outside a maintenance "
            f"reservation ({status.reason or 'no reason'}): not updated, its jobs could "
            "start during the update")})
    if status.jobs:
        jobs = ", ".join(str(job) for job in status.jobs)
        return Stay(POLL_S, f"inside the maintenance reservation, jobs {jobs} still running")
    return Advance(NodeStep.DELIVER)


def undrain(ctx: StepContext, settings: ManagerSettings) -> Outcome:
    name = ctx.progress.drained_by_us
    progress = replace(ctx.progress, drained_by_us=None)
    if not name:
        return Advance(NodeStep.DONE, progress=progress)
    manager = connect(settings)
    try:
        status = manager.status([name])[name]
        if status.drained_by(ctx.campaign.id) and status.condition is NodeCondition.DOWN:
            # Not responding (a restarted slurmctld has not heard from it yet): Slurm
            # refuses a resume ("Invalid node state specified") until it answers.
            return Stay(POLL_S, f"Slurm reports {name} down ({status.reason}): resumed "
                                "once it answers")
        if status.drained_by(ctx.campaign.id):
            manager.resume([name])
        else:
            progress = replace(progress, resume=f"left alone: Slurm shows "
                               f"{status.condition.value} ({status.reason or 'no reason'})")
    except ManagerUnreachableError as exc:
        return Stay(POLL_S, f"cluster manager not answering, resume waits: {exc}")
    except ClusterManagerError as exc:
        raise StepFailedError(str(exc)) from exc
    return Advance(NodeStep.DONE, progress=progress)


def _call(action: Callable[[], None]) -> None:
    try:
        action()
    except ClusterManagerError as exc:
        raise StepFailedError(str(exc)) from exc
