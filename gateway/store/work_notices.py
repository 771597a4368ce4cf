"""Wake-ups between gateways sharing one PostgreSQL: "nodes were started for you".

The leader starts nodes leased to other members (gateway.orchestrator.membership);
without a notice a member would find them only at its next sweep of the store, up to
a second later, while the leader drives its own share at once. In the transaction
that starts them, ``notify_owners`` sends PostgreSQL's ``NOTIFY`` on one channel with
each receiving gateway's name as the payload; PostgreSQL delivers it when (and only
if) that transaction commits, so a woken member finds the rows. ``WorkNotices`` is a
member's listener: one connection of its own, outside the pool, in autocommit.

The other way round, a member whose node finished (its slot may be free) tells the
scheduler's leader with ``notify_scheduler``, on a channel of its own
(``SCHEDULE_CHANNEL``, so no gateway name can be mistaken for it): without it the leader
saw the freed slot at its next look at the store, up to a second later (measured in
docs/performance.md, "Tenth session").

The store stays the truth: a lost notice (a dropped connection, a listener starting
late) costs only the wait until the next sweep. SQLite has one gateway per file and
no notices: both do nothing there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.database import core_transaction
from gateway.store.errors import StoreError

LOG = logging.getLogger(__name__)
CHANNEL = "fleetflash_work"
RECONNECT_S = 5.0  # after the listening connection failed (the database restarting)
_WAIT_S = 1.0  # how often the listener looks at its stop flag
SCHEDULE_CHANNEL = "fleetflash_schedule"  # "a node finished": the leader's scheduler looks


def notify_owners(connection: sa.Connection, owners: Iterable[str]) -> None:
    """Queue a notice for each gateway in `owners` (sent when the transaction commits;
    PostgreSQL only)."""
    if connection.dialect.name != "postgresql":
        return
    for owner in sorted(set(owners)):
        connection.execute(sa.select(sa.func.pg_notify(CHANNEL, owner)))


def notify_scheduler(engine: Engine) -> bool:
    """Tell the scheduler's leader to look now: a node this gateway drove finished.
    PostgreSQL only. Returns False when the notice could not be sent (never raises: the
    leader's next look at the store finds the slot anyway)."""
    if engine.dialect.name != "postgresql":
        return True
    try:
        with core_transaction(engine) as connection:
            connection.execute(sa.select(sa.func.pg_notify(SCHEDULE_CHANNEL, "")))
    except StoreError:
        return False
    return True


class WorkNotices:
    """Calls ``on_notice()`` whenever another gateway started nodes for ``name``, and
    ``on_schedule()`` whenever a member's node finished (``notify_scheduler``)."""

    def __init__(self, engine: Engine, name: str, on_notice: Callable[[], None],
                 on_schedule: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        self.name = name
        self.on_notice = on_notice
        self.on_schedule = on_schedule
        self._unsent = False  # the last schedule notice failed (logged once per outage)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def schedule_now(self) -> None:
        """A node this gateway drove finished: the leader's scheduler looks now."""
        sent = notify_scheduler(self.engine)
        if not sent and not self._unsent:
            LOG.info("gateway %s: could not tell the scheduler's leader that a node "
                     "finished (the database is away?); it finds out at its next look",
                     self.name)
        self._unsent = not sent

    @property
    def supported(self) -> bool:
        return self.engine.dialect.name == "postgresql" and self.engine.dialect.driver == \
            "psycopg"

    def start(self) -> None:
        if not self.supported or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen, name="work-notices", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * _WAIT_S + 1)
            self._thread = None

    def _listen(self) -> None:
        import psycopg  # PostgreSQL only: not needed on SQLite

        failing = False
        while not self._stop.is_set():
            try:
                url = self.engine.url.set(drivername="postgresql")
                with psycopg.connect(url.render_as_string(hide_password=False),
                                     autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    connection.execute(f"LISTEN {SCHEDULE_CHANNEL}")
                    failing = False
                    # Nodes started before LISTEN took effect are found by the sweep.
                    while not self._stop.is_set():
                        # psycopg >= 3.2 (timeout; pyproject.toml says so).
                        for notice in connection.notifies(timeout=_WAIT_S):
                            if notice.channel == SCHEDULE_CHANNEL:
                                self.on_schedule()
                            elif notice.payload == self.name:
                                self.on_notice()
            except psycopg.Error as exc:
                if not failing:  # once per outage, not every RECONNECT_S
                    LOG.warning("gateway %s: listening for work notices failed (%s); the "
                                "store's sweep finds new work meanwhile", self.name,
                                exc.__class__.__name__)
                failing = True
                self._stop.wait(RECONNECT_S)
