"""What the scheduler turns the store's rows into every tick, without rebuilding it.

At 100,000 nodes a tick reads every run and every health reading of a campaign;
making 100,000 NodeRun objects and Health members out of them each tick cost more
than admission itself (docs/performance.md, "Planner and admission"). A row that did
not change since the last tick keeps its NodeRun (the very object, which is also how
the campaign's AdmissionBook sees that nothing changed), and a health reading that
did not change keeps its dictionary.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import compress
from operator import itemgetter, ne

from gateway.domain import AdmissionBook, Cluster, Health, NodeRun, NodeStep

# The store's run_states row: (node_id, step, attempt, canary, held, error).
RunRow = tuple[str, str, int, bool, bool, str | None]
_HEALTH = {member.value: member for member in Health}


class TickInputs:
    """Per campaign: last tick's runs by row, its health and its admission book."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[list[RunRow], list[NodeRun]]] = {}
        self._health: dict[str, tuple[dict[str, str], dict[str, Health]]] = {}
        self._books: dict[str, AdmissionBook] = {}

    def runs(self, campaign: str, rows: Iterable[RunRow]) -> dict[str, NodeRun]:
        """node id -> run; the same NodeRun as last tick for every unchanged row.

        The store lists rows by node id, so this tick's rows are compared with last
        tick's position by position (flat passes CPython runs in C); a row that differs
        gets a new NodeRun, whatever moved, so a shifted list only costs more."""
        rows = list(rows)
        last_rows, last_runs = self._runs.get(campaign, ([], []))
        if len(last_rows) == len(rows):
            found = list(last_runs)
            for index in compress(range(len(rows)), map(ne, rows, last_rows)):
                found[index] = _run(rows[index])
        else:
            found = [_run(row) for row in rows]
        self._runs[campaign] = (rows, found)
        return dict(zip(map(itemgetter(0), rows), found, strict=True))

    def health(self, cluster: str, raw: dict[str, str]) -> dict[str, Health]:
        """node id -> Health; last tick's dictionary when no reading changed."""
        last = self._health.get(cluster)
        if last is not None and last[0] == raw:
            return last[1]
        converted = {node: _HEALTH[value] for node, value in raw.items()}
        self._health[cluster] = (raw, converted)
        return converted

    def book(self, campaign: str, cluster: Cluster, staged: bool) -> AdmissionBook:
        """The campaign's admission book (a new one when its cluster was redeclared)."""
        book = self._books.get(campaign)
        if book is None or book.cluster is not cluster or book.staged != staged:
            book = self._books[campaign] = AdmissionBook(cluster, staged=staged)
        return book

    def keep_only(self, campaigns: Iterable[str]) -> None:
        """Forget the campaigns no longer open (their rows and books)."""
        keep = set(campaigns)
        for memo in (self._runs, self._books):
            for campaign in memo.keys() - keep:
                del memo[campaign]


def _run(row: RunRow) -> NodeRun:
    node, step, attempt, canary, held, error = row
    return NodeRun(node, NodeStep(step), attempt, canary, held, error)
