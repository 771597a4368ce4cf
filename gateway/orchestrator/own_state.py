"""What the gateway set on a BMC, and only that: finding operator state MSC would
replace (before it touches anything), and undoing the gateway's own media and boot
override when a node is done or made safe (the house rule: never touch operator state
the gateway did not set).

Media in the virtual CD is the gateway's own when it is provably so, by either of two
proofs (docs/orchestration.md, "Operator state"):

- the run recorded the image URL as its own before the InsertMedia request (the intent,
  RunProgress.own_media);
- the URL is a capability URL whose MAC verifies with the fleet's media secret, granted
  for this node (any campaign, any gateway of the fleet, expired or not). This proof
  lives on the BMC itself, so it survives a record the database lost (an outage that
  took its last commits, a takeover from a snapshot before the insert was recorded).

A verified capability URL granted for another node is the fleet's too, but not this
run's to remove: it can only be in this slot when two nodes share one virtual CD, and
it may be serving that node's update. It is left alone, and MSC is not used here.
Anything else (an operator's media, a forged or foreign URL) is never touched.
"""

from __future__ import annotations

import logging

from gateway.domain import DeliveryMethod
from gateway.orchestrator.context import StepContext
from gateway.redfish.systems import CD_TARGETS
from gateway.redfish.virtual_media import MediaState

LOG = logging.getLogger("gateway.orchestrator.steps")


def media_node(ctx: StepContext, media: MediaState | None) -> str | None:
    """The node whose update CD the slot holds when the gateway inserted it (this node
    for its own media, see the module doc), None when it holds none of the gateway's."""
    if media is None or not media.image:
        return None  # empty, or inserted without a URL the gateway could have given
    if media.image in ctx.progress.own_media:
        return ctx.node
    grant = ctx.media_grant(media.image)
    return grant.node_id if grant is not None else None


def holds_media(media: MediaState | None) -> bool:
    """The slot holds something (inserted, or an image left named in it)."""
    return media is not None and bool(media.inserted or media.image)


def foreign_media(ctx: StepContext, media: MediaState | None) -> str | None:
    """Why the slot's media is not this node's to replace or eject, None when the slot is
    empty or holds the gateway's own CD for this node."""
    if not holds_media(media):
        return None
    node = media_node(ctx, media)
    if node is None:
        return "the virtual CD holds media the gateway did not insert"
    if node != ctx.node:
        return (f"the virtual CD holds the gateway's update CD for node {node} (a virtual "
                "CD shared with it; that node's update may be reading it)")
    return None


def operator_state(ctx: StepContext) -> str | None:
    """What MSC would replace and the gateway may not: media in the virtual CD that is
    not its own for this node, or a pending boot override it did not set. None when
    the slot is empty or holds its own CD and no foreign override is pending."""
    client = ctx.client()
    media = client.media_state()
    if busy := foreign_media(ctx, media):
        return busy
    override = client.boot_override()
    if override.pending and not ctx.progress.own_boot and not _own_cd_boot(
            ctx, media, override.target, override.enabled):
        return (f"a boot override the gateway did not set is pending "
                f"({override.target}, {override.enabled})")
    return None


def _own_cd_boot(ctx: StepContext, media: MediaState | None, target: str,
                 enabled: str) -> bool:
    """A one-time CD boot next to the gateway's own CD for this node is the other half of
    its delivery (boot_cd sets exactly Cd/Once after inserting): its record may have
    been lost with the media's."""
    return target in CD_TARGETS and enabled == "Once" and holds_media(media) and (
        media_node(ctx, media) == ctx.node)


def make_safe(ctx: StepContext) -> None:
    """Undo what the gateway itself set, and only that (idempotent): eject its own media
    (recorded before the insert, or a capability URL of the fleet granted for this node)
    and cancel the one-time CD boot it asked for if still pending. An operator's media
    or boot override (e.g. Pxe) is left as it is."""
    if not (ctx.progress.own_media or ctx.progress.own_boot or ctx.run.method in (
            None, "", DeliveryMethod.MSC.value)):
        return  # a BMC-pulled update in this attempt: the gateway set nothing to look at
    client = ctx.client()
    media = client.media_state()
    own_cd = False
    if holds_media(media):
        if busy := foreign_media(ctx, media):
            LOG.info("node %s: %s; left alone", ctx.node, busy)
        else:
            own_cd = True
            client.eject_media(current=media)
    if ctx.progress.own_boot or own_cd:
        override = client.boot_override()
        if override.pending and override.target in CD_TARGETS and (
                ctx.progress.own_boot or override.enabled == "Once"):
            client.clear_boot_override()
        elif override.pending:
            LOG.info("node %s: boot override %s/%s was not set by the gateway; left alone",
                     ctx.node, override.target, override.enabled)
