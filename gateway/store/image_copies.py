"""Which gateway of a fleet holds which verified image, and where a peer reads it.

A gateway advertises each verified image in its cache with a capability URL its own
media server answers (minted with its own secret: no secret is shared between
gateways). A gateway that needs an image it lacks reads it from a live holder and
verifies it again (gateway/orchestrator/peer_images.py), so the publisher's origin
is fetched once per image for the whole fleet. The URL grants reading that one
verified image and nothing else; the database is already the fleet's root of trust.

Created by migration ``peer_0001_image_copies``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.database import core_transaction
from gateway.store.models import Base, UTCDateTime
from gateway.store.repository import utcnow


class ImageCopyRow(Base):
    __tablename__ = "image_copies"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(128), primary_key=True)
    url: Mapped[str] = mapped_column(Text)  # the holder's capability URL for peers
    advertised_at: Mapped[datetime] = mapped_column(UTCDateTime())


_COPIES: sa.Table = ImageCopyRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ImageCopy:
    sha256: str
    gateway: str
    url: str


class ImageCopies:
    """The image_copies table of one fleet database. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def advertise(self, gateway: str, urls: dict[str, str]) -> None:
        """`gateway` holds exactly the images of `urls` (sha256 -> peer URL) now:
        insert or refresh those, forget the ones it no longer holds. One transaction."""
        now = utcnow()
        with core_transaction(self._engine) as connection:
            held = {row.sha256: row.url for row in connection.execute(
                sa.select(_COPIES.c.sha256, _COPIES.c.url).where(
                    _COPIES.c.gateway == gateway))}
            gone = set(held) - set(urls)
            if gone:
                connection.execute(_COPIES.delete().where(
                    _COPIES.c.gateway == gateway, _COPIES.c.sha256.in_(sorted(gone))))
            for sha256, url in sorted(urls.items()):
                if sha256 not in held:
                    connection.execute(_COPIES.insert().values(
                        sha256=sha256, gateway=gateway, url=url, advertised_at=now))
                elif held[sha256] != url:
                    connection.execute(_COPIES.update().where(
                        _COPIES.c.gateway == gateway, _COPIES.c.sha256 == sha256
                    ).values(url=url, advertised_at=now))

    def holders(self, sha256: str) -> list[ImageCopy]:
        """Every gateway advertising `sha256`, by name (live or not: the caller asks
        the fleet's membership)."""
        with core_transaction(self._engine) as connection:
            rows = connection.execute(sa.select(_COPIES.c.gateway, _COPIES.c.url).where(
                _COPIES.c.sha256 == sha256).order_by(_COPIES.c.gateway)).all()
        return [ImageCopy(sha256, row.gateway, row.url) for row in rows]
