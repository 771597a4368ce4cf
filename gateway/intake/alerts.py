"""The two update alerts of the profile, as validated values (no I/O).

Both the CIM listener and the other triggers (CLI, REST) build these through
`update_available` / `image_withdrawn`, so every channel applies the same
rules. Profile: /docs/intake.md and the shared ALERT-PROFILE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.intake.errors import AlertFormatError
from gateway.intake.trust import check_uri

MSG_UPDATE_AVAILABLE = "FWUP0001"
MSG_IMAGE_WITHDRAWN = "FWUP0002"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_IDENTIFIER = 256
MAX_NAME = 256
MAX_DESCRIPTION = 4096


@dataclass(frozen=True)
class UpdateAvailable:
    """FWUP0001: an update image is available at `image_uri`."""

    indication_identifier: str
    owning_entity: str
    image_uri: str
    image_sha256: str
    bundle_id: str
    release: str
    manifest_uri: str | None = None
    description: str | None = None
    indication_time: str | None = None
    alerting_element: str | None = None
    system_name: str | None = None

    message_id = MSG_UPDATE_AVAILABLE


@dataclass(frozen=True)
class ImageWithdrawn:
    """FWUP0002: the image with `image_sha256` is withdrawn."""

    indication_identifier: str
    owning_entity: str
    bundle_id: str
    image_sha256: str
    description: str | None = None
    indication_time: str | None = None

    message_id = MSG_IMAGE_WITHDRAWN


@dataclass(frozen=True)
class NotAnUpdateAlert:
    """An indication this gateway does not act on (other class or MessageID)."""

    classname: str
    message_id: str | None
    indication_identifier: str | None
    why: str


UpdateAlert = UpdateAvailable | ImageWithdrawn


def _text(name: str, value: str, limit: int) -> str:
    if not value or not value.strip():
        raise AlertFormatError(f"{name} is empty")
    if len(value) > limit:
        raise AlertFormatError(f"{name} is longer than {limit} characters")
    if any(ord(c) < 0x20 for c in value):
        raise AlertFormatError(f"{name} contains control characters")
    return value


def check_image_sha256(value: str) -> str:
    """Return the digest if it is 64 lowercase hex digits, else raise AlertFormatError."""
    if not _SHA256_RE.match(value):
        raise AlertFormatError("ImageSHA256 must be 64 lowercase hexadecimal digits")
    return value


def _uri(name: str, value: str) -> str:
    problem = check_uri(value)
    if problem:
        raise AlertFormatError(f"{name}: {problem}")
    return value


def _optional(name: str, value: str | None, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise AlertFormatError(f"{name} is longer than {limit} characters")
    return value


def update_available(
    *, indication_identifier: str, owning_entity: str, arguments: list[str],
    description: str | None = None, indication_time: str | None = None,
    alerting_element: str | None = None, system_name: str | None = None,
) -> UpdateAvailable:
    """Validate FWUP0001 values. `arguments` is MessageArguments:
    [ImageURI, ImageSHA256, BundleID, Release] plus optional ManifestURI.
    Raises AlertFormatError naming the first bad value."""
    if len(arguments) not in (4, 5):
        raise AlertFormatError(
            f"FWUP0001 MessageArguments needs 4 or 5 entries, got {len(arguments)}")
    manifest_uri = arguments[4] if len(arguments) == 5 and arguments[4] else None
    return UpdateAvailable(
        indication_identifier=_text("IndicationIdentifier", indication_identifier,
                                    MAX_IDENTIFIER),
        owning_entity=_text("OwningEntity", owning_entity, MAX_NAME),
        image_uri=_uri("ImageURI", arguments[0]),
        image_sha256=check_image_sha256(arguments[1]),
        bundle_id=_text("BundleID", arguments[2], MAX_NAME),
        release=_text("Release", arguments[3], MAX_NAME),
        manifest_uri=_uri("ManifestURI", manifest_uri) if manifest_uri else None,
        description=_optional("Description", description, MAX_DESCRIPTION),
        indication_time=_optional("IndicationTime", indication_time, 64),
        alerting_element=_optional("AlertingManagedElement", alerting_element, 1024),
        system_name=_optional("SystemName", system_name, MAX_NAME),
    )


def image_withdrawn(
    *, indication_identifier: str, owning_entity: str, arguments: list[str],
    description: str | None = None, indication_time: str | None = None,
) -> ImageWithdrawn:
    """Validate FWUP0002 values. `arguments` is MessageArguments: [BundleID, ImageSHA256].
    Raises AlertFormatError naming the first bad value."""
    if len(arguments) != 2:
        raise AlertFormatError(
            f"FWUP0002 MessageArguments needs 2 entries, got {len(arguments)}")
    return ImageWithdrawn(
        indication_identifier=_text("IndicationIdentifier", indication_identifier,
                                    MAX_IDENTIFIER),
        owning_entity=_text("OwningEntity", owning_entity, MAX_NAME),
        bundle_id=_text("BundleID", arguments[0], MAX_NAME),
        image_sha256=check_image_sha256(arguments[1]),
        description=_optional("Description", description, MAX_DESCRIPTION),
        indication_time=_optional("IndicationTime", indication_time, 64),
    )
