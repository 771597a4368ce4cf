"""Choosing how an image reaches a node, from what its BMC offers."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from gateway.domain.errors import DomainError
from gateway.domain.inventory import UpdateCapabilities


class DeliveryMethod(StrEnum):
    """MSC: insert the image as a virtual CD, boot it once, the host applies it.
    SIMPLE_UPDATE: the BMC pulls the image from the gateway's media URL.
    MULTIPART_PUSH: the gateway POSTs the image to MultipartHttpPushUri or, on a BMC
    that offers only the older HttpPushUri, as that URI's raw body (the push)."""

    MSC = "msc"
    SIMPLE_UPDATE = "simple_update"
    MULTIPART_PUSH = "multipart_push"


DEFAULT_PREFERENCE: tuple[DeliveryMethod, ...] = (
    DeliveryMethod.MSC, DeliveryMethod.SIMPLE_UPDATE, DeliveryMethod.MULTIPART_PUSH,
)


class NoDeliveryMethodError(DomainError):
    """The BMC offers none of the delivery methods allowed for the node."""


def offered_methods(caps: UpdateCapabilities, media_scheme: str = "http") -> list[DeliveryMethod]:
    """Methods the BMC can use; ``media_scheme`` is the gateway media URL's scheme."""
    offered: list[DeliveryMethod] = []
    if caps.virtual_media_cd and caps.virtual_media_insert:
        offered.append(DeliveryMethod.MSC)
    protocols = {p.upper() for p in caps.transfer_protocols}
    # A BMC that lists no protocols accepts the URI's own scheme (Redfish: the
    # TransferProtocol parameter is optional when ImageURI carries a scheme).
    if caps.simple_update and (not protocols or media_scheme.upper() in protocols):
        offered.append(DeliveryMethod.SIMPLE_UPDATE)
    if caps.multipart_push or caps.http_push:
        offered.append(DeliveryMethod.MULTIPART_PUSH)
    return offered


def choose_delivery(
    caps: UpdateCapabilities,
    preference: Sequence[DeliveryMethod] = DEFAULT_PREFERENCE,
    media_scheme: str = "http",
) -> DeliveryMethod:
    """The first method in ``preference`` the BMC offers; NoDeliveryMethodError if none."""
    offered = offered_methods(caps, media_scheme)
    for method in preference:
        if method in offered:
            return method
    wanted = ", ".join(m.value for m in preference)
    missing = "; ".join(f"{m.value}: {_missing(caps, m, media_scheme)}" for m in preference)
    raise NoDeliveryMethodError(
        f"BMC offers none of the allowed delivery methods ({wanted}); "
        f"it offers: {', '.join(m.value for m in offered) or 'nothing'} ({missing})"
    )


def _missing(caps: UpdateCapabilities, method: DeliveryMethod, media_scheme: str) -> str:
    """The capability the BMC lacks for ``method`` (it does not offer it)."""
    if method is DeliveryMethod.MSC:
        if caps.virtual_media_cd:
            return "its virtual CD has no VirtualMedia.InsertMedia action: MSC cannot load it"
        return "no virtual CD/DVD"
    if method is DeliveryMethod.SIMPLE_UPDATE:
        if caps.simple_update:
            return (f"SimpleUpdate does not allow TransferProtocol {media_scheme.upper()} "
                    f"(it allows {', '.join(caps.transfer_protocols)})")
        return "no UpdateService.SimpleUpdate action"
    return "no UpdateService.MultipartHttpPushUri (nor HttpPushUri)"
