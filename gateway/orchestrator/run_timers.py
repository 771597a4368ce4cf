"""Which runs this gateway's workers drive now, and when each waiting run is due again.

A run that stays in its step is looked at again after its handler's delay, timed here
in memory (a heap of due times over a dict, entries whose due time changed are
skipped), not in the store. A BMC event for a node waiting in MONITOR brings its next
look forward to ``look_after_s`` from now; the events arriving meanwhile ride on that
look. An event for a node a worker is looking at right now is remembered, and that
look's own wait is then no longer than ``look_after_s``: the look may have read the
versions just before the change the event announces, and without the mark the node
would wait for its polling fallback (half a minute) with every version in place.

Thread-safe: workers, the scheduler loop and the event receiver's thread call it.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Collection

from gateway.domain import NodeStep
from gateway.store.campaign_records import RunRecord

RunKey = tuple[str, str]  # (campaign id, node id)


class RunTimers:
    def __init__(self, look_after_s: float) -> None:
        self.look_after_s = look_after_s
        self._lock = threading.Lock()
        self._in_flight: set[RunKey] = set()
        self._in_flight_of: dict[str, set[RunKey]] = {}  # by node (an event names a node)
        self._woken_in_flight: set[str] = set()  # node ids (see the module doc)
        self._waiting: dict[RunKey, tuple[float, RunRecord]] = {}
        # An event names a node, not a run: its waiting runs without a walk over every
        # waiting run under the lock (thousands per gateway at 5,000 nodes, several
        # events per node).
        self._waiting_of: dict[str, set[RunKey]] = {}
        self._heap: list[tuple[float, RunKey]] = []

    # -- driven by a worker ------------------------------------------------------------

    def claim(self, key: RunKey) -> bool:
        """Mark ``key`` driven; False when a worker already drives it."""
        with self._lock:
            if key in self._in_flight:
                return False
            self._in_flight.add(key)
            _index(self._in_flight_of, key)
            return True

    def release(self, key: RunKey) -> None:
        """The worker is done with ``key`` (its wait, if any, is already set)."""
        with self._lock:
            if key in self._in_flight:
                self._in_flight.remove(key)
                _unindex(self._in_flight_of, key)
            self._woken_in_flight.discard(key[1])

    # -- waiting -----------------------------------------------------------------------

    def wait(self, key: RunKey, run: RunRecord, seconds: float, woken: bool = False) -> None:
        """Look at ``run`` again in ``seconds``. ``woken``: no later than ``look_after_s``
        if an event reached the node while it was being looked at (module doc)."""
        with self._lock:
            if woken and key[1] in self._woken_in_flight:
                self._woken_in_flight.discard(key[1])
                seconds = min(seconds, self.look_after_s)
            self._set(key, run, time.monotonic() + max(0.0, seconds))

    def _set(self, key: RunKey, run: RunRecord, when: float) -> None:
        self._waiting[key] = (when, run)
        _index(self._waiting_of, key)
        heapq.heappush(self._heap, (when, key))

    def _unset(self, key: RunKey) -> None:
        if self._waiting.pop(key, None) is not None:
            _unindex(self._waiting_of, key)

    def is_waiting(self, key: RunKey) -> bool:
        with self._lock:
            return key in self._waiting

    def next_due(self) -> float | None:
        """The monotonic time the next waiting run is due (None: none waits)."""
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def due(self, clock: float) -> list[tuple[RunKey, RunRecord]]:
        """The runs due by ``clock``, no longer waiting."""
        due: list[tuple[RunKey, RunRecord]] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= clock:
                when, key = heapq.heappop(self._heap)
                entry = self._waiting.get(key)
                if entry is not None and entry[0] == when:
                    self._unset(key)
                    due.append((key, entry[1]))
        return due

    def waiting_keys(self) -> list[RunKey]:
        with self._lock:
            return list(self._waiting)

    def forget(self, keys: Collection[RunKey]) -> None:
        """Stop timing ``keys`` (runs this gateway no longer holds)."""
        with self._lock:
            for key in keys:
                self._unset(key)

    # -- events ------------------------------------------------------------------------

    def event_for(self, node_id: str) -> bool:
        """A MONITOR-waking event for ``node_id`` arrived: True when it brought a waiting
        MONITOR look forward (the loop should wake to keep that time)."""
        soon = time.monotonic() + self.look_after_s
        monitor = NodeStep.MONITOR.value
        with self._lock:
            keys = self._waiting_of.get(node_id)
            if not keys:
                if node_id in self._in_flight_of:
                    self._woken_in_flight.add(node_id)
                return False
            # The node's run waiting in MONITOR (a node held by another campaign may wait
            # in another step meanwhile).
            key = next((k for k in keys if self._waiting[k][1].step == monitor), None)
            if key is None:
                return False
            when, run = self._waiting[key]
            if when <= soon:
                return False  # already looked at by then
            self._set(key, run, soon)
            return True


def _index(index: dict[str, set[RunKey]], key: RunKey) -> None:
    index.setdefault(key[1], set()).add(key)


def _unindex(index: dict[str, set[RunKey]], key: RunKey) -> None:
    keys = index[key[1]]
    keys.discard(key)
    if not keys:
        del index[key[1]]
