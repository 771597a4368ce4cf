"""Plain records the store hands out (never live ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Decision(StrEnum):
    """What the gateway did with an alert."""

    ACCEPTED = "accepted"  # a new image was queued for acquisition
    DUPLICATE = "duplicate"  # replayed IndicationIdentifier or image already known
    WITHDRAWN = "withdrawn"  # FWUP0002 applied to a known image
    IGNORED = "ignored"  # other class / MessageID: acknowledged, never acted on
    REJECTED = "rejected"  # untrusted or malformed: nothing changed


class ImageState(StrEnum):
    """Life cycle of an image in the store."""

    PENDING = "pending"  # accepted, waiting for a worker
    DOWNLOADING = "downloading"  # claimed by a worker (lease), partial file may exist
    VERIFIED = "verified"  # digest and signature checked, visible in the cache
    REJECTED = "rejected"  # bytes or signature did not verify
    FAILED = "failed"  # fetching gave up after repeated errors
    WITHDRAWN = "withdrawn"  # publisher withdrew it: start nothing new with it


ACQUIRABLE_STATES = (ImageState.PENDING, ImageState.DOWNLOADING)


@dataclass(frozen=True)
class NewAlert:
    """What the intake knows about an alert when it records it."""

    channel: str
    decision: Decision
    reason: str
    client_address: str | None = None
    source: str | None = None
    indication_identifier: str | None = None
    message_id: str | None = None
    owning_entity: str | None = None
    image_sha256: str | None = None
    image_uri: str | None = None
    manifest_uri: str | None = None
    bundle_id: str | None = None
    release: str | None = None
    description: str | None = None


@dataclass(frozen=True, kw_only=True)
class AlertRecord(NewAlert):
    """One stored alert (see `alerts` table): what was recorded, plus its id, its arrival
    time and the manifest learned from its ManifestURI."""

    id: int
    received_at: datetime
    learned_manifest: str | None = None


@dataclass(frozen=True)
class ImageRecord:
    """One stored image (see `images` table)."""

    sha256: str
    state: ImageState
    source: str
    image_uri: str
    manifest_uri: str | None
    bundle_id: str
    release: str
    description: str | None
    first_alert_id: int | None
    manifest_json: str | None
    manifest_verified: bool
    size_bytes: int | None
    etag: str | None
    attempts: int
    reason: str
    lease_owner: str | None
    lease_expires: datetime | None
    created_at: datetime
    updated_at: datetime
    verified_at: datetime | None
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class AlertAdmission:
    """Result of admitting an alert: the stored alert and the image's state after it."""

    alert: AlertRecord
    image_state: ImageState | None
    starts_acquisition: bool
