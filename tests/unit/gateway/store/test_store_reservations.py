"""The gateway's record of its cluster-manager reservations, on a real SQLite file, and
the waiting notes it leaves on pending runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gateway.store import utcnow
from gateway.store.reservations import ReservationRecord

from .test_store_step_spans import LEASE, _store


def test_a_reservation_is_recorded_confirmed_moved_and_dropped(tmp_path: Path) -> None:
    _, campaigns = _store(tmp_path)
    start = utcnow().replace(microsecond=0)
    record = ReservationRecord("fleetflash-c1-1", "c1", 0, ("n1", "n2"), start,
                               start + timedelta(minutes=1))
    campaigns.add_reservation(record)
    assert campaigns.reservations("c1") == [record]  # not booked until Slurm agreed
    assert campaigns.reservation_campaigns() == {"c1"}
    later = start + timedelta(minutes=5)
    campaigns.update_reservation(record.name, booked=True, ends_at=later)
    (stored,) = campaigns.reservations("c1")
    assert stored.booked and stored.ends_at == later and stored.starts_at == start
    campaigns.drop_reservation(record.name)
    assert campaigns.reservations("c1") == [] and campaigns.reservation_campaigns() == set()


def test_notes_go_on_pending_runs_without_another_error_and_clear_by_prefix(
        tmp_path: Path) -> None:
    _, campaigns = _store(tmp_path)
    campaigns.note_pending("c1", "waiting", "waiting: Slurm does not answer")
    assert {r.node_id: r.error for r in campaigns.runs("c1")} == {
        "n1": "waiting: Slurm does not answer", "n2": "waiting: Slurm does not answer"}
    campaigns.note_pending("c1", "refused", "refused: busy", ["n2"])
    assert campaigns.run("c1", "n2").error == "waiting: Slurm does not answer"  # not ours
    campaigns.note_pending("c1", "waiting", None)
    campaigns.note_pending("c1", "refused", "refused: busy", ["n2"])
    assert [r.error for r in campaigns.runs("c1")] == [None, "refused: busy"]
    # A started run's note goes with its start.
    assert campaigns.start_runs("c1", ["n2"], "gw", LEASE, "precheck") == ["n2"]
    assert campaigns.run("c1", "n2").error is None
