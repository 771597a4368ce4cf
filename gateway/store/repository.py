"""The gateway store: alerts, images and image references.

Every decision that must hold across gateways sharing one database rests on a
unique key or a conditional UPDATE, never on a lock inside this process:
replays are caught by the (source, IndicationIdentifier) unique key, a second
announcement of one image by the images primary key, and acquisition work is
handed out by a compare-and-set lease on the image row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.store.database import (
    core_transaction,
    create_engine,
    existing_row,
    migrate,
    transaction,
)
from gateway.store.errors import NotFoundError, StoreError
from gateway.store.models import AlertRow, ImageReferenceRow, ImageRow, IndicationSeenRow
from gateway.store.records import (
    AlertAdmission,
    AlertRecord,
    Decision,
    ImageRecord,
    ImageState,
    NewAlert,
)

LOG = logging.getLogger(__name__)
_RACE_RETRIES = 5
_IMAGES: sa.Table = ImageRow.__table__  # type: ignore[assignment]  # a declarative Table


def utcnow() -> datetime:
    """Aware current UTC time (the only kind of datetime the store accepts)."""
    return datetime.now(UTC)


class GatewayStore:
    """Repository over one database. Thread-safe: each call uses its own session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> GatewayStore:
        """Open (and migrate to head) the database at `url`. Raises StoreError."""
        engine = create_engine(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    def _transaction(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)

    # -- alerts -------------------------------------------------------------

    def record_alert(self, alert: NewAlert) -> AlertRecord:
        """Store an alert whose decision is already final (rejected, ignored)."""
        with self._transaction() as session:
            return _alert_record(self._insert_alert(session, alert, alert.decision, alert.reason))

    def admit_update(self, alert: NewAlert) -> AlertAdmission:
        """Record a trusted FWUP0001 and decide what it starts.

        `alert` must carry source, image_sha256, image_uri, bundle_id and release.
        A replayed IndicationIdentifier or an image already pending, downloading
        or verified is a duplicate; a withdrawn image is rejected; a previously
        rejected or failed image is queued again.
        """
        assert alert.source and alert.image_sha256 and alert.image_uri
        return self._admit("alert", self._admit_update, alert)

    def _admit_update(self, session: Session, alert: NewAlert) -> AlertAdmission:
        now = utcnow()
        if self._seen(session, alert):
            row = self._insert_alert(session, alert, Decision.DUPLICATE,
                                     "IndicationIdentifier already received from this source")
            image = session.get(ImageRow, alert.image_sha256)
            state = ImageState(image.state) if image else None
            return AlertAdmission(_alert_record(row), state, False)
        image = session.get(ImageRow, alert.image_sha256)
        starts = False
        if image is None:
            decision, reason, starts = Decision.ACCEPTED, "new image queued for acquisition", True
        elif image.state == ImageState.WITHDRAWN:
            decision, reason = Decision.REJECTED, "image was withdrawn by its publisher"
        elif image.state in (ImageState.REJECTED, ImageState.FAILED):
            decision, reason, starts = (Decision.ACCEPTED,
                                        f"image previously {image.state}; queued again", True)
        else:
            decision, reason = Decision.DUPLICATE, f"image already known ({image.state})"
        row = self._insert_alert(session, alert, decision, reason)
        if decision != Decision.REJECTED and alert.indication_identifier:
            session.add(IndicationSeenRow(source=alert.source,
                                          indication_identifier=alert.indication_identifier,
                                          alert_id=row.id))
        if starts:
            if image is None:
                image = ImageRow(sha256=alert.image_sha256, created_at=now, attempts=0,
                                 manifest_verified=False)
                session.add(image)
            image.state = ImageState.PENDING
            image.source = alert.source or ""
            image.image_uri = alert.image_uri or ""
            image.manifest_uri = alert.manifest_uri
            image.bundle_id = alert.bundle_id or ""
            image.release = alert.release or ""
            image.description = alert.description
            image.first_alert_id = row.id
            image.attempts = 0
            image.reason = ""
            image.lease_owner = None
            image.lease_expires = None
            image.updated_at = now
        session.flush()
        state = ImageState(image.state) if image else None
        return AlertAdmission(_alert_record(row), state, starts)

    def admit_withdrawal(self, alert: NewAlert) -> AlertAdmission:
        """Record a trusted FWUP0002 and mark its image withdrawn.

        Only the source that announced the image may withdraw it, and the
        BundleID must match. Unknown images are rejected.
        """
        assert alert.source and alert.image_sha256
        return self._admit("withdrawal", self._admit_withdrawal, alert)

    def _admit(self, what: str, decide: Callable[[Session, NewAlert], AlertAdmission],
               alert: NewAlert) -> AlertAdmission:
        """Run `decide` in a transaction; a lost unique-key race (another gateway admitted
        the same indication or image meanwhile) is decided again on what is stored now."""
        for _ in range(_RACE_RETRIES):
            try:
                with self._transaction() as session:
                    return decide(session, alert)
            except IntegrityError:
                LOG.debug("concurrent %s of %s; re-evaluating", what, alert.image_sha256)
        raise StoreError(f"could not admit {what}: repeated conflicting concurrent writes")

    def _admit_withdrawal(self, session: Session, alert: NewAlert) -> AlertAdmission:
        image = session.get(ImageRow, alert.image_sha256)
        replay = self._seen(session, alert)
        if replay:
            decision, reason = Decision.DUPLICATE, "IndicationIdentifier already received"
        elif image is None:
            decision, reason = Decision.REJECTED, "image is not known to this gateway"
        elif image.source != alert.source:
            decision, reason = Decision.REJECTED, "image was announced by another source"
        elif image.bundle_id != alert.bundle_id:
            decision, reason = (Decision.REJECTED,
                                f"BundleID does not match the image's ({image.bundle_id!r})")
        elif image.state == ImageState.WITHDRAWN:
            decision, reason = Decision.DUPLICATE, "image already withdrawn"
        else:
            decision, reason = Decision.WITHDRAWN, f"image withdrawn (was {image.state})"
            image.state = ImageState.WITHDRAWN
            image.withdrawn_at = image.updated_at = utcnow()
            image.lease_owner = None
        row = self._insert_alert(session, alert, decision, reason)
        if decision != Decision.REJECTED and alert.indication_identifier and not replay:
            session.add(IndicationSeenRow(source=alert.source,
                                          indication_identifier=alert.indication_identifier,
                                          alert_id=row.id))
        session.flush()
        return AlertAdmission(_alert_record(row), ImageState(image.state) if image else None, False)

    def _seen(self, session: Session, alert: NewAlert) -> bool:
        if not alert.indication_identifier:
            return False
        query = sa.select(IndicationSeenRow.id).where(
            IndicationSeenRow.source == alert.source,
            IndicationSeenRow.indication_identifier == alert.indication_identifier)
        return session.scalar(query) is not None

    def _insert_alert(self, session: Session, alert: NewAlert, decision: Decision,
                      reason: str) -> AlertRow:
        row = AlertRow(
            received_at=utcnow(), channel=alert.channel, client_address=alert.client_address,
            source=alert.source, indication_identifier=_clip(alert.indication_identifier, 256),
            message_id=_clip(alert.message_id, 64), decision=decision, reason=reason,
            owning_entity=_clip(alert.owning_entity, 256), image_sha256=alert.image_sha256,
            image_uri=alert.image_uri, manifest_uri=alert.manifest_uri,
            bundle_id=_clip(alert.bundle_id, 256), release=_clip(alert.release, 256),
            description=alert.description,
        )
        session.add(row)
        session.flush()
        return row

    def list_alerts(self, limit: int = 200) -> list[AlertRecord]:
        """The newest `limit` alerts, newest first."""
        with self._transaction() as session:
            rows = session.scalars(sa.select(AlertRow).order_by(AlertRow.id.desc()).limit(limit))
            return [_alert_record(r) for r in rows]

    def count_alerts(self) -> int:
        """How many alerts are stored."""
        with self._transaction() as session:
            return int(session.scalar(sa.select(sa.func.count(AlertRow.id))) or 0)

    def alert_page(self, *, limit: int, offset: int = 0, decision: Decision | None = None
                   ) -> tuple[list[AlertRecord], int]:
        """A page of the alerts (with `decision`, when given), newest first, and how many
        there are: one page and one count in the database, whatever the size of the log."""
        where = AlertRow.decision == decision if decision else sa.true()
        with self._transaction() as session:
            total = session.scalar(sa.select(sa.func.count(AlertRow.id)).where(where))
            rows = session.scalars(sa.select(AlertRow).where(where)
                                   .order_by(AlertRow.id.desc()).offset(offset).limit(limit))
            return [_alert_record(r) for r in rows], int(total or 0)

    def count_alerts_by_decision(self) -> dict[Decision, int]:
        """{decision: alerts}, every decision present (one GROUP BY)."""
        counts = self._count_by(AlertRow.decision)
        return {decision: counts.get(decision, 0) for decision in Decision}

    def count_images_by_state(self) -> dict[ImageState, int]:
        """{state: images}, every state present (one GROUP BY)."""
        counts = self._count_by(ImageRow.state)
        return {state: counts.get(state, 0) for state in ImageState}

    def _count_by(self, column: Any) -> dict[str, int]:
        with self._transaction() as session:
            rows = session.execute(sa.select(column, sa.func.count()).group_by(column))
            return {str(value): int(count) for value, count in rows}

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self._transaction() as session:
                session.execute(sa.text("SELECT 1"))
        except StoreError:
            return False
        return True

    # -- images -------------------------------------------------------------

    def get_image(self, sha256: str) -> ImageRecord:
        """The image with this digest. Raises NotFoundError."""
        with core_transaction(self.engine) as connection:  # Core: read every tick
            row = connection.execute(sa.select(_IMAGES).where(_IMAGES.c.sha256 == sha256)).first()
        if row is None:
            raise NotFoundError(f"no image with sha256 {sha256}")
        return _image_record(row)

    def list_images(self, *states: ImageState) -> list[ImageRecord]:
        """Images in any of `states` (all images when none given), oldest first."""
        query = sa.select(_IMAGES).order_by(_IMAGES.c.created_at)
        if states:
            query = query.where(_IMAGES.c.state.in_([str(s) for s in states]))
        with core_transaction(self.engine) as connection:  # Core: campaign creation polls it
            return [_image_record(r) for r in connection.execute(query)]

    def claim_next_image(self, owner: str, lease: timedelta) -> ImageRecord | None:
        """Take the lease on the oldest image that needs acquiring, or return None.
        Claimable: pending whose back-off has passed, downloading whose lease expired,
        or downloading leased by `owner` itself (a restarted gateway resumes at once)."""
        now = utcnow()
        claimable = sa.or_(
            sa.and_(_IMAGES.c.state == ImageState.PENDING,
                    sa.or_(_IMAGES.c.lease_expires.is_(None), _IMAGES.c.lease_expires < now)),
            sa.and_(_IMAGES.c.state == ImageState.DOWNLOADING,
                    sa.or_(_IMAGES.c.lease_owner == owner, _IMAGES.c.lease_expires < now)))
        with core_transaction(self.engine) as connection:  # Core: the worker polls this
            candidates = list(connection.scalars(
                sa.select(_IMAGES.c.sha256).where(claimable).order_by(_IMAGES.c.created_at)
                .limit(10)))
            for sha in candidates:
                result = connection.execute(
                    sa.update(_IMAGES).where(_IMAGES.c.sha256 == sha, claimable).values(
                        state=ImageState.DOWNLOADING, lease_owner=owner,
                        lease_expires=now + lease, updated_at=now,
                        attempts=_IMAGES.c.attempts + 1))
                if result.rowcount == 1:
                    return _image_record(connection.execute(sa.select(_IMAGES).where(
                        _IMAGES.c.sha256 == sha)).one())
        return None

    def renew_lease(self, sha256: str, owner: str, lease: timedelta, **progress: Any) -> bool:
        """Extend `owner`'s lease and save progress fields (size_bytes, etag, manifest_json,
        manifest_verified). False when the lease is lost or the image was withdrawn."""
        now = utcnow()
        allowed = {"size_bytes", "etag", "manifest_json", "manifest_verified"}
        assert set(progress) <= allowed, set(progress) - allowed
        with self._transaction() as session:
            result = session.execute(sa.update(ImageRow).where(
                ImageRow.sha256 == sha256, ImageRow.lease_owner == owner,
                ImageRow.state == ImageState.DOWNLOADING,
            ).values(lease_expires=now + lease, updated_at=now, **progress))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def finish_image(self, sha256: str, owner: str, state: ImageState, reason: str = "") -> bool:
        """End `owner`'s acquisition with a final state (verified, rejected, failed).
        False when the lease was lost or the image was withdrawn meanwhile."""
        now = utcnow()
        values: dict[str, Any] = {"state": state, "reason": reason, "lease_owner": None,
                                  "lease_expires": None, "updated_at": now}
        if state == ImageState.VERIFIED:
            values.update(verified_at=now, manifest_verified=True)
        with self._transaction() as session:
            result = session.execute(sa.update(ImageRow).where(
                ImageRow.sha256 == sha256, ImageRow.lease_owner == owner,
                ImageRow.state == ImageState.DOWNLOADING).values(**values))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def release_image(self, sha256: str, owner: str, reason: str, retry_after: timedelta) -> bool:
        """Give an unfinished acquisition back (transient failure): pending again,
        not claimable before `retry_after` has passed."""
        now = utcnow()
        with self._transaction() as session:
            result = session.execute(sa.update(ImageRow).where(
                ImageRow.sha256 == sha256, ImageRow.lease_owner == owner,
                ImageRow.state == ImageState.DOWNLOADING,
            ).values(state=ImageState.PENDING, reason=reason, lease_owner=None,
                     lease_expires=now + retry_after, updated_at=now))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def record_learned_manifest(self, sha256: str, manifest_json: str) -> None:
        """Store the manifest learned for an image, with the image and its first alert."""
        with self._transaction() as session:
            image = existing_row(session, ImageRow, sha256, f"no image with sha256 {sha256}")
            image.manifest_json = manifest_json
            if image.first_alert_id is not None:
                alert = session.get(AlertRow, image.first_alert_id)
                if alert is not None:
                    alert.learned_manifest = manifest_json

    # -- references (eviction hook for campaigns) ---------------------------

    def add_image_reference(self, sha256: str, holder: str) -> None:
        """Pin an image in the cache for `holder` (e.g. "campaign:42"). Idempotent."""
        try:
            with self._transaction() as session:
                if session.get(ImageRow, sha256) is None:
                    raise NotFoundError(f"no image with sha256 {sha256}")
                session.add(ImageReferenceRow(image_sha256=sha256, holder=holder,
                                              created_at=utcnow()))
        except IntegrityError:
            return  # already referenced by this holder

    def remove_image_reference(self, sha256: str, holder: str) -> None:
        """Unpin an image for `holder`. Idempotent."""
        with self._transaction() as session:
            session.execute(sa.delete(ImageReferenceRow).where(
                ImageReferenceRow.image_sha256 == sha256, ImageReferenceRow.holder == holder))

    def referenced_digests(self) -> set[str]:
        """Digests never to evict: those at least one holder references, and the previous
        verified image of each bundle ID (the one before the newest), so a rollback to it
        needs no download."""
        with self._transaction() as session:
            held = set(session.scalars(sa.select(ImageReferenceRow.image_sha256).distinct()))
            rows = session.execute(sa.select(ImageRow.bundle_id, ImageRow.sha256).where(
                ImageRow.state == ImageState.VERIFIED.value,
            ).order_by(ImageRow.bundle_id, ImageRow.verified_at.desc(), ImageRow.sha256))
            seen: dict[str, int] = {}
            for bundle_id, sha256 in rows:
                seen[bundle_id] = seen.get(bundle_id, 0) + 1
                if seen[bundle_id] == 2:  # newest first: the second is the previous one
                    held.add(sha256)
            return held


def _clip(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[: limit - 1] + "…"


def _alert_record(row: AlertRow) -> AlertRecord:
    return AlertRecord(
        id=row.id, received_at=row.received_at, channel=row.channel,
        client_address=row.client_address, source=row.source,
        indication_identifier=row.indication_identifier, message_id=row.message_id,
        decision=Decision(row.decision), reason=row.reason, owning_entity=row.owning_entity,
        image_sha256=row.image_sha256, image_uri=row.image_uri, manifest_uri=row.manifest_uri,
        bundle_id=row.bundle_id, release=row.release, description=row.description,
        learned_manifest=row.learned_manifest,
    )


def _image_record(row: ImageRow | sa.Row[Any]) -> ImageRecord:
    return ImageRecord(**{c.key: getattr(row, c.key) for c in ImageRow.__table__.columns}
                       | {"state": ImageState(row.state)})
