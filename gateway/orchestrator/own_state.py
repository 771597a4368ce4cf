"""What the gateway set on a BMC, and only that: finding operator state MSC would
replace (before it touches anything), and undoing the gateway's own media and boot
override when a node is done or made safe (the house rule: never touch operator state
the gateway did not set)."""

from __future__ import annotations

import logging

from gateway.orchestrator.context import StepContext
from gateway.redfish.systems import CD_TARGETS

LOG = logging.getLogger("gateway.orchestrator.steps")


def operator_state(ctx: StepContext) -> str | None:
    """What the gateway did not set and MSC would replace: media in the virtual CD, or a
    pending boot override. None when the slot is empty and no override is pending."""
    client = ctx.client()
    media = client.media_state()
    if media is not None and (media.inserted or media.image) and (
            media.image not in ctx.progress.own_media):
        return "the virtual CD holds media the gateway did not insert"
    override = client.boot_override()
    if override.pending and not ctx.progress.own_boot:
        return (f"a boot override the gateway did not set is pending "
                f"({override.target}, {override.enabled})")
    return None


def make_safe(ctx: StepContext) -> None:
    """Undo what the gateway itself set, and only that (idempotent): eject the media it
    inserted (its own capability URLs, recorded in the run's progress before the insert)
    and cancel the one-time CD boot it asked for if still pending. An operator's media
    or boot override (e.g. Pxe) is left as it is."""
    own_media = ctx.progress.own_media
    if not own_media and not ctx.progress.own_boot:
        return  # nothing set by the gateway in this attempt: not even a look needed
    client = ctx.client()
    media = client.media_state() if own_media else None
    if media is not None and (media.inserted or media.image):
        if media.image in own_media:
            client.eject_media(current=media)
        else:
            LOG.info("node %s: virtual CD holds media the gateway did not insert; "
                     "left alone", ctx.node)
    if ctx.progress.own_boot:
        override = client.boot_override()
        if override.pending and override.target in CD_TARGETS:
            client.clear_boot_override()
        elif override.pending:
            LOG.info("node %s: boot override %s/%s was not set by the gateway; left alone",
                     ctx.node, override.target, override.enabled)
