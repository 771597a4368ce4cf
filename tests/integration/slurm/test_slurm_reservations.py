"""Reservation mode against real Slurm daemons: one maintenance reservation per wave.

Every node is updated only while Slurm holds it in a maintenance reservation booked by
the gateway for exactly its wave; the reservations are deleted when their waves end, a
reservation Slurm refuses is reported with Slurm's message and its wave planned again,
a pause deletes the waves not yet begun, and an operator's reservation is left alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from gateway.cluster_managers import Reservation
from gateway.orchestrator.manager_reservations import REFUSED_NOTE
from lab.lab_slurm import SlurmRig
from lab.lab_slurm_proof import completed_jobs, jobs_during_updates
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.conftest import Rollout
from tests.integration.orchestrator.rig import TARGET_VERSIONS, wait_for
from tests.integration.slurm.conftest import SLURM_NAMES, slurm_rollout_rig

SLOT_S = 60  # expected_node_s: one wave's planned slot (Slurm's shortest reservation)


class ReservationWatch:
    """Every reservation Slurm showed, polled from a thread while a rollout runs."""

    def __init__(self, slurm: SlurmRig) -> None:
        self.slurm = slurm
        self.seen: set[Reservation] = set()
        self.flags: dict[str, str] = {}  # reservation -> its Flags as Slurm showed them
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ReservationWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.seen |= set(current(self.slurm, self.flags))

    def ours(self) -> dict[str, set[Reservation]]:
        by_name: dict[str, set[Reservation]] = {}
        for seen in self.seen:
            if seen.name.startswith("fleetflash-"):
                by_name.setdefault(seen.name, set()).add(seen)
        return by_name


def current(slurm: SlurmRig, flags: dict[str, str] | None = None) -> list[Reservation]:
    """Every reservation Slurm shows now (their flags into `flags`)."""
    done = slurm.run("scontrol", "-o", "show", "reservation", check=False)
    result = []
    for line in done.stdout.splitlines():
        fields = dict(t.split("=", 1) for t in line.split() if "=" in t)
        if "ReservationName" in fields:
            nodes = fields["Nodes"]
            if "[" in nodes:  # a hostlist ("n[2-3]")
                nodes = ",".join(slurm.run("scontrol", "show", "hostnames", nodes).stdout.split())
            result.append(Reservation(
                fields["ReservationName"], tuple(nodes.split(",")),
                datetime.fromisoformat(fields["StartTime"]),
                datetime.fromisoformat(fields["EndTime"]), fields["State"] == "ACTIVE"))
            if flags is not None:
                flags[fields["ReservationName"]] = fields["Flags"]
    return result


@pytest.fixture
def reservation_rollout(slurm: SlurmRig, tmp_path: Path, test_keys: TestKeys,
                        bundle_factory: BundleFactory) -> Iterator[Rollout]:
    yield from slurm_rollout_rig(slurm.conf, tmp_path, test_keys, bundle_factory,
                                 'mode = "reservation"',
                                 orchestrator={"expected_node_s": SLOT_S},
                                 flash_seconds=1.0)


def test_each_wave_is_updated_inside_its_own_maintenance_reservation_and_a_refusal_replans(
        slurm: SlurmRig, reservation_rollout: Rollout) -> None:
    rollout = reservation_rollout
    # n4 runs a job without a time limit: Slurm refuses any reservation over it.
    stuck = slurm.sbatch("n4", 600)
    # An operator's own reservation elsewhere in time: never the gateway's to delete.
    slurm.run("scontrol", "create", "reservation", "reservationname=operator-window",
              "nodes=n2", "starttime=now+1day", "duration=60", "users=root")
    assert wait_for(lambda: slurm.job_states()[stuck] == "RUNNING", 30)
    with ReservationWatch(slurm) as watch:
        rollout.announce()
        campaign = rollout.campaign_id()
        service = rollout.service

        def runs() -> dict[str, tuple[str, str]]:
            return {r.node_id: (r.step, r.error or "") for r in service.show(campaign).runs}

        assert wait_for(lambda: [runs()[n][0] for n in ("bmc-0000", "bmc-0001", "bmc-0002")]
                        == ["done"] * 3 and REFUSED_NOTE in runs()["bmc-0003"][1], 240), runs()
        step, error = runs()["bmc-0003"]
        assert step == "pending"
        assert "Slurm refused reservation fleetflash-" in error
        assert "for n4: Requested nodes are busy; the wave is planned again without " \
               "bmc-0003" in error
        # The job ends: the wave is planned again, booked, and n4 updated.
        slurm.run("scancel", str(stuck))
        rollout.wait_state(campaign, "completed", timeout=240)
    runs_now = {r.node_id: r for r in service.show(campaign).runs}
    assert {r.step for r in runs_now.values()} == {"done"}
    assert all(r.after_versions == TARGET_VERSIONS for r in runs_now.values())
    # One maintenance reservation per wave, exactly its nodes: the canary, then the
    # group's allowance of two, then n4 once Slurm accepted it.
    ours = watch.ours()
    assert sorted(sorted({s.nodes for s in seen}) for seen in ours.values()) == [
        [("n1",)], [("n2", "n3")], [("n4",)]], ours
    assert all("MAINT" in watch.flags[name].split(",") for name in ours)
    assert all((s.end - s.start).total_seconds() >= SLOT_S
               for seen in ours.values() for s in seen)
    # Each node was flashed only while its wave's reservation was active.
    audit = rollout.audit()
    for record in (r for r in audit if r["event"] == "flash_start"):
        name = SLURM_NAMES[record["bmc"]]
        assert any(s.active and name in s.nodes
                   for seen in ours.values() for s in seen), record
    # Deleted when their waves ended; the operator's reservation stays.
    assert wait_for(lambda: [s.name for s in current(slurm)] == ["operator-window"], 30), \
        current(slurm)
    assert rollout.orchestrator.scheduler.store.reservations(campaign) == []
    # Nothing was drained, and no job ran on a node while it was updated.
    assert wait_for(lambda: all(s == ("idle", ()) for s in slurm.node_states().values()), 30)
    jobs = completed_jobs((slurm.root / "log" / "jobcomp.txt").read_text())
    assert jobs_during_updates(audit, jobs, SLURM_NAMES) == []


def test_a_pause_deletes_the_waves_not_begun_and_a_resume_books_them_again(
        slurm: SlurmRig, tmp_path: Path, test_keys: TestKeys,
        bundle_factory: BundleFactory) -> None:
    # Slow flashes: the second wave (n2, n3) is still being updated when the pause comes,
    # while the third (n4) is booked for the slot after it.
    rig = slurm_rollout_rig(slurm.conf, tmp_path, test_keys, bundle_factory,
                            'mode = "reservation"', orchestrator={"expected_node_s": SLOT_S},
                            flash_seconds=8.0)
    rollout = next(rig)
    try:
        rollout.announce()
        campaign = rollout.campaign_id()
        store = rollout.orchestrator.scheduler.store

        def steps() -> dict[str, str]:
            return {r.node_id: r.step for r in rollout.service.show(campaign).runs}

        def booked() -> dict[tuple[str, ...], str]:
            return {r.nodes: r.name for r in store.reservations(campaign)}

        assert wait_for(lambda: ("bmc-0003",) in booked() and steps()["bmc-0001"] not in (
            "pending", "done"), 120), (booked(), steps())
        later, in_flight = booked()[("bmc-0003",)], booked()[("bmc-0001", "bmc-0002")]
        rollout.service.pause(campaign)
        assert wait_for(lambda: later not in {s.name for s in current(slurm)}, 30)
        # The wave in flight keeps its reservation until its nodes are done.
        assert in_flight in {s.name for s in current(slurm)}
        assert steps()["bmc-0001"] not in ("pending", "done")
        assert wait_for(lambda: steps()["bmc-0001"] == steps()["bmc-0002"] == "done", 60)
        assert wait_for(lambda: not [s for s in current(slurm)
                                     if s.name.startswith("fleetflash-")], 30), current(slurm)
        assert store.reservations(campaign) == [] and steps()["bmc-0003"] == "pending"
        rollout.service.resume(campaign)
        assert wait_for(lambda: ("bmc-0003",) in booked(), 30)
        assert booked()[("bmc-0003",)] != later
        rollout.wait_state(campaign, "completed", timeout=180)
        assert set(steps().values()) == {"done"}
        assert wait_for(lambda: not [s for s in current(slurm)
                                     if s.name.startswith("fleetflash-")], 30), current(slurm)
    finally:
        rig.close()


def test_a_failed_canary_deletes_its_reservation_books_nothing_else_and_keeps_it_drained(
        slurm: SlurmRig, reservation_rollout: Rollout) -> None:
    rollout = reservation_rollout
    for bmc in rollout.emulated.bmcs:
        bmc.faults.set("flash_fails")
    with ReservationWatch(slurm) as watch:
        rollout.announce()
        campaign = rollout.campaign_id()
        assert rollout.wait_state(campaign, "failed", timeout=120) == "failed"
        canary = rollout.quarantined_canary(campaign)
        assert wait_for(lambda: not [s for s in current(slurm)
                                     if s.name.startswith("fleetflash-")], 30), current(slurm)
    assert rollout.orchestrator.scheduler.store.reservations(campaign) == []
    # Only the canary's wave was ever booked: the rest waited for the canary.
    assert [sorted({s.nodes for s in seen}) for seen in watch.ours().values()] == [
        [(SLURM_NAMES[canary.node_id],)]]
    # The failed node takes no jobs once its window closed: drained with the gateway's
    # reason (the operator resumes it); the others are untouched.
    states = slurm.node_states()
    assert states[SLURM_NAMES[canary.node_id]][1] == ("DRAIN",)
    assert f"fleetflash {campaign}: firmware update" in slurm.run(
        "sinfo", "-R", "-o", "%60E").stdout
    assert all(states[n] == ("idle", ()) for n in SLURM_NAMES.values()
               if n != SLURM_NAMES[canary.node_id])
    assert {r["bmc"] for r in rollout.audit() if r["event"].startswith("flash")} == {
        canary.node_id}
