"""Bytes served, counted per image and per node.

Counts are of body bytes actually handed to the kernel for a client (a transfer
cut short counts only what was sent), so a BMC reading one payload through
ranges is charged for that payload, not the whole image.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TransferSnapshot:
    """A consistent copy of the counters. All values are bytes.

    per_node keys are (campaign_id, node_id); per_image keys are image ids.
    """

    per_image: dict[str, int] = field(default_factory=dict)
    per_node: dict[tuple[str, str], int] = field(default_factory=dict)
    requests: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(self.per_image.values())


class TransferCounters:
    """Thread-safe byte counters; `snapshot()` is the read API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._per_image: Counter[str] = Counter()
        self._per_node: Counter[tuple[str, str]] = Counter()
        self._requests = 0

    def add(self, image_id: str, campaign_id: str, node_id: str, nbytes: int) -> None:
        """Record `nbytes` (>= 0) of body sent for one image to one node."""
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        with self._lock:
            self._per_image[image_id] += nbytes
            self._per_node[(campaign_id, node_id)] += nbytes

    def count_request(self) -> None:
        """Record one authorised request (whatever its outcome)."""
        with self._lock:
            self._requests += 1

    def snapshot(self) -> TransferSnapshot:
        """A copy of the counters taken under one lock."""
        with self._lock:
            return TransferSnapshot(dict(self._per_image), dict(self._per_node), self._requests)
