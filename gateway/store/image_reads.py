"""Cheap reads of the images table for loops that look at it every second.

The campaign creator asks every second which verified image is the newest; reading
every verified image with its manifest for that cost more than the answer (a digest)
is worth, on every gateway of a fleet (docs/performance.md, "Statements of an idle
gateway").
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.database import core_transaction
from gateway.store.models import ImageRow
from gateway.store.records import ImageState

_IMAGES: sa.Table = ImageRow.__table__  # type: ignore[assignment]  # a declarative Table

# Built once: the newest verified image that has a manifest (what campaigns are made of).
_NEWEST_VERIFIED = sa.select(_IMAGES.c.sha256).where(
    _IMAGES.c.state == ImageState.VERIFIED.value, _IMAGES.c.manifest_json.is_not(None),
    _IMAGES.c.manifest_json != "", _IMAGES.c.verified_at.is_not(None),
).order_by(_IMAGES.c.verified_at.desc(), _IMAGES.c.sha256.desc()).limit(1)


def newest_verified_sha(engine: Engine) -> str | None:
    """The digest of the newest verified image with a manifest (by verification time,
    then digest), or None: one short row, not the images themselves."""
    with core_transaction(engine) as connection:
        return connection.scalar(_NEWEST_VERIFIED)
