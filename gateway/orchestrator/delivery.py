"""The DELIVER step, per method: MSC (virtual CD boot), SimpleUpdate pull, push (multipart,
or HttpPushUri on a BMC that offers only that: gateway.redfish.http_push).

A marker saying the irreversible call may have been made means the update is
under way or done and must not be started again (no node is flashed twice); with
such a marker the BMC's versions are read first (already at target: done).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from firmware_payloads import is_downgrade
from gateway.domain import (
    DeliveryMethod,
    NoDeliveryMethodError,
    NodeStep,
    PowerState,
    RunProgress,
    choose_delivery,
)
from gateway.orchestrator import staging
from gateway.orchestrator.context import Advance, Outcome, Stay, StepContext, versions_behind
from gateway.orchestrator.errors import StepFailedError
from gateway.orchestrator.node_inventory import full_inventory
from gateway.orchestrator.own_state import foreign_media
from gateway.redfish import NotSupportedError, RedfishError, TaskRef
from gateway.redfish.virtual_media import MediaState
from gateway.store import utcnow

LOG = logging.getLogger(__name__)
CHUNK_BYTES = 1 << 20
# A task the BMC lists counts as ours if it started no earlier than this before our request.
TASK_CLOCK_SLACK = timedelta(minutes=2)
# The delivering process of a CD found inserted without a record: not this one.
UNKNOWN_EPOCH = "unknown"


def deliver(ctx: StepContext) -> Outcome:
    """Hand the image to the BMC by the chosen method, or notice it already was."""
    # Without an intent marker nothing of ours reached the BMC in this attempt and
    # PRECHECK has just read the versions: reading them again costs three requests a
    # node for nothing (an MSC CD applies only what is still below target anyway).
    if ctx.progress.reset_intent or ctx.progress.update_intent:
        installed = ctx.client().component_versions()
        if not versions_behind(ctx, installed):
            return Advance(NodeStep.MONITOR)  # resumed after the update finished: check
    method = DeliveryMethod(ctx.run.method or DeliveryMethod.MSC.value)
    if staging.staged_components(ctx.progress) and not staging.remaining_targets(ctx):
        return Advance(NodeStep.RESET)  # all staged: the reset activates it
    chosen = method
    if ctx.clients.capabilities_stale(ctx.node) and not ctx.progress.update_intent:
        chosen = method_now(ctx, method)
    outcome = _msc(ctx) if chosen is DeliveryMethod.MSC else _task_based(ctx, chosen)
    if chosen is method or not isinstance(outcome, Advance):
        return outcome
    return Advance(outcome.step, {**outcome.fields, "method": chosen.value}, outcome.progress)


def method_now(ctx: StepContext, method: DeliveryMethod) -> DeliveryMethod:
    """The delivery method for a BMC discovered again since PRECHECK chose ``method``
    (gateway.orchestrator.client_pool: it may have changed shape): its capabilities are
    read afresh, and ``method`` kept if the BMC still offers it, else the cluster's next
    preference it offers. StepFailedError naming what is missing when none is left."""
    inventory = full_inventory(ctx)
    ctx.observe(inventory)
    scheme = ctx.media_url().split(":", 1)[0]
    try:
        return choose_delivery(inventory.capabilities, (method,), scheme)
    except NoDeliveryMethodError:
        pass
    preference = ctx.cluster.delivery
    if downgrades(ctx):  # the update CD applies only newer packages (precheck)
        preference = tuple(m for m in preference if m is not DeliveryMethod.MSC)
    try:
        chosen = choose_delivery(inventory.capabilities, preference, scheme)
    except NoDeliveryMethodError as exc:
        raise StepFailedError(f"the BMC changed shape and no longer offers "
                              f"{method.value}: {exc}") from exc
    LOG.warning("node %s: its BMC no longer offers %s; delivering by %s", ctx.node,
                method.value, chosen.value)
    return chosen


def _msc(ctx: StepContext) -> Outcome:
    """Insert the image, boot it once from the virtual CD, reset the host."""
    client = ctx.client()
    if ctx.progress.reset_intent:
        # Crashed around the reset: a boot override still pending on a host that is
        # plainly On or Off means the reset never reached the BMC.
        power = client.power_state()
        if client.boot_override().pending and power in (PowerState.ON, PowerState.OFF):
            client.reset_host()
            ctx.mark(replace(ctx.progress, cd_booted_at=utcnow()))
        return Advance(NodeStep.MONITOR, progress=replace(ctx.progress, media=True))
    url = ctx.media_url()
    media = client.media_state()
    if media is None:
        raise StepFailedError("the BMC no longer offers a virtual CD")
    if media.inserted and media.image == url and url not in ctx.progress.own_media:
        # This run's own CD, inserted by a request whose record the database lost (it
        # went back in time, docs/database.md): the reset may have been sent as well and
        # the CD may be applying now. Resumed as after a crash around the reset: reset
        # only while the CD boot is still pending, else MONITOR watches the versions and
        # delivers again after cd_settle_s if they are not reached (never a reset into
        # a CD that may be flashing).
        LOG.warning("node %s: the gateway's update CD is inserted but the run has no record "
                    "of it (lost with the database); resumed as a delivery under way", ctx.node)
        ctx.mark(replace(ctx.progress, own_media=(*ctx.progress.own_media, url),
                         own_boot=True, reset_intent=ctx.now, epoch=UNKNOWN_EPOCH))
        return _msc(ctx)
    _insert_own(ctx, url, media)
    boot_cd(ctx)
    return Advance(NodeStep.MONITOR, progress=replace(ctx.progress, media=True))


def _insert_own(ctx: StepContext, url: str, media: MediaState | None) -> None:
    """Insert the gateway's image unless the slot holds it already, recorded as its own
    first either way (a record lost with the database is written again). Media that is
    not the gateway's own for this node (own_state) is never ejected to make room
    (precheck chose another method for such a node; this guards the time since); the
    gateway's own earlier CD for the node (another campaign's, another gateway's) is
    replaced. What the gateway sets on the BMC is marked before it is set, so that
    making the node safe (own_state.make_safe) undoes exactly that, even after a crash."""
    if busy := foreign_media(ctx, media):
        raise StepFailedError(f"{busy}; left alone")
    own = ctx.progress.own_media
    if url not in own or not ctx.progress.own_boot:
        ctx.mark(replace(ctx.progress, own_media=own if url in own else (*own, url),
                         own_boot=True))
    if media is None or not (media.inserted and media.image == url):
        ctx.client().insert_media(url, current=media)


def boot_cd(ctx: StepContext) -> None:
    """Boot the inserted update CD once: override, persist the intent, reset."""
    client = ctx.client()
    if not ctx.progress.own_boot:
        ctx.mark(replace(ctx.progress, own_boot=True))
    client.set_boot_once_cd()
    ctx.mark(replace(ctx.progress, reset_intent=ctx.now, cd_booted_at=None, epoch=ctx.epoch))
    client.reset_host()
    # Taken now, on a fresh clock (ctx.now dates from before this step's reads): what
    # the BMC reports from here on is this attempt's (gateway.orchestrator.signals).
    ctx.mark(replace(ctx.progress, cd_booted_at=utcnow()))


def redeliver(ctx: StepContext) -> RunProgress:
    """Deliver again after the previous attempt lost its media source (the gateway that
    served it died) or the BMC reported a transfer that a new one can cure. Returns
    the progress to store. The BMC applies only what is still
    below target, so components already written are not written again."""
    method = DeliveryMethod(ctx.run.method or DeliveryMethod.MSC.value)
    count = ctx.progress.redeliveries + 1
    # A host still busy with the last CD run refuses the reset (409): nothing was
    # delivered, so the markers go back to what they were (the next look tries again).
    before = ctx.progress
    ctx.mark(replace(ctx.progress, redeliveries=count, settle_until=None))
    LOG.warning("node %s: delivery %d again", ctx.node, count)
    if method is DeliveryMethod.MSC:
        client = ctx.client()
        _insert_own(ctx, ctx.media_url(), client.media_state())
        try:
            boot_cd(ctx)
        except RedfishError as exc:
            if exc.status == 409:
                ctx.mark(before)
            raise
        return ctx.progress
    intent = ctx.progress.update_intent
    ref = adopt_task(ctx, intent) if intent else None
    if ref is None or ref.monitor_uri == ctx.progress.task:
        ref = _send(ctx, method)  # no newer task: the last request never reached the BMC
    return replace(ctx.progress, task=ref.monitor_uri if ref else None,
                   task_uri=ref.task_uri if ref else None)


def _task_based(ctx: StepContext, method: DeliveryMethod) -> Outcome:
    intent = ctx.progress.update_intent
    if intent:
        adopted = adopt_task(ctx, intent)
        if adopted is not None:
            return _to_monitor(ctx, adopted)
        hidden = ctx.now - intent
        if hidden < timedelta(seconds=ctx.settings.hidden_task_grace_s):
            # The request may have reached the BMC and its task still hide: a new task
            # (monitor, entry in Tasks) may answer 404 for a while (iDRAC10,
            # docs/interop.md "task-monitor-404-at-first"), and some BMCs would accept
            # a second update. Looked for again until the grace has passed
            # (hidden_task_grace_s).
            return Stay(min(2.0, ctx.settings.poll_max_s),
                        f"update requested {hidden.total_seconds():.0f} s ago (before a "
                        "restart); waiting for its task to show")
        LOG.info("node %s: no update task found %.0f s after a request made before a "
                 "crash; sending the update again", ctx.node, hidden.total_seconds())
    return _to_monitor(ctx, _send(ctx, method))


def _send(ctx: StepContext, method: DeliveryMethod) -> TaskRef | None:
    targets = _targets(ctx)
    before = ctx.progress
    ctx.mark(replace(ctx.progress, update_intent=ctx.now, epoch=ctx.epoch))
    try:
        # A BMC refuses older versions unless told ForceUpdate.
        return send_update(ctx, method, targets, force=downgrades(ctx),
                           again=before.update_intent is not None)
    except RedfishError as exc:
        if exc.status is not None or isinstance(exc, NotSupportedError):
            # The BMC answered with a refusal (busy, not ready), or no longer offers the
            # method (nothing was asked): nothing was started, so the retry must not
            # adopt a task another client started meanwhile.
            ctx.mark(before)
        raise


def send_update(ctx: StepContext, method: DeliveryMethod, targets: list[str], *,
                apply_time: str | None = None, force: bool = False,
                again: bool = False) -> TaskRef | None:
    """SimpleUpdate (the BMC pulls the media URL) or a push of the cached image
    (multipart, or HttpPushUri where that is all the BMC offers), with these Targets and
    apply time. The caller has persisted its intent; ``again``: an earlier intent of
    this run was already persisted (a push reservation found held may be its own)."""
    client = ctx.client()
    if method is DeliveryMethod.SIMPLE_UPDATE:
        return client.simple_update(ctx.media_url(), targets=targets, force=force,
                                    apply_time=apply_time)
    path = ctx.image_file()
    return client.multipart_push(_chunks(path), path.stat().st_size, filename="image.iso",
                                 targets=targets, force=force, apply_time=apply_time,
                                 timeout=ctx.settings.timeout(NodeStep.DELIVER).total_seconds(),
                                 reservation_may_be_ours=again)


def downgrades(ctx: StepContext) -> bool:
    """True when the node's planned packages lower a version it had before (only in a
    campaign that allows downgrades)."""
    if not ctx.campaign.allow_downgrade:
        return False
    return any(is_downgrade(pkg, ctx.run.before_versions) for pkg in ctx.manifest.packages
               if pkg.id in ctx.run.packages)


def _targets(ctx: StepContext) -> list[str]:
    """The update's Targets: the FirmwareInventory members of the components planned for
    the node, so a BMC cannot apply a package of the image the gateway ruled out.
    Without them (a component the BMC does not list as a member) the update is sent
    without Targets and the BMC decides, as it would for any client: logged."""
    # A staged node's disruptive part delivers only what was not staged.
    components = sorted(staging.remaining_targets(ctx))
    uris = ctx.client().firmware_targets(components) if components else None
    if uris is None:
        LOG.warning("node %s: no FirmwareInventory member for every planned component "
                    "(%s); the update is sent without Targets", ctx.node,
                    ", ".join(components) or "none planned")
        return []
    return uris


def _to_monitor(ctx: StepContext, ref: TaskRef | None) -> Outcome:
    progress = replace(ctx.progress, update_intent=ctx.progress.update_intent or ctx.now)
    if ref is not None:
        progress = replace(progress, task=ref.monitor_uri, task_uri=ref.task_uri)
    return Advance(NodeStep.MONITOR, progress=progress)


def adopt_task(ctx: StepContext, intent: datetime) -> TaskRef | None:
    """The BMC's newest task (or, with none, update Job) started after our (possibly
    delivered) request, if any."""
    return ctx.client().find_update_task(intent - TASK_CLOCK_SLACK)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk
