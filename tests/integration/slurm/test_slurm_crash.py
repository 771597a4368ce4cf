"""kill -9 of a real `fleetflash gateway serve` between drain and resume, with real Slurm.

The operator-drained node takes one of the group's two slots, so nodes go one at a time.
After each restart the gateway carries on with the nodes it drained: it resumes exactly
those (once they are updated), never the node an operator drained, and no job runs on a
node while its BMC is updated.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from emulator.cluster import EmulatedCluster
from emulator.publisher import BundleServer
from gateway.config import GatewayConfig, load_config
from gateway.store import GatewayStore
from gateway.store.campaigns import CampaignStore
from lab.lab_invariants import repeated_flashes
from lab.lab_slurm import SlurmRig
from lab.lab_slurm_proof import completed_jobs, jobs_during_updates
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    emulated_rollout,
    raise_alert_and_wait_for_campaign,
    wait_for,
    write_gateway_config,
)
from tests.integration.slurm.conftest import SLURM_NAMES, add_manager
from tests.support.gateway_process import GatewayProcess

AFTER_DRAIN = {"deliver", "monitor", "reset", "wait_back", "verify", "eject", "postcheck",
               "undrain"}


def _serve(tmp_path: Path, test_keys: TestKeys, emulated: EmulatedCluster,
           publisher: BundleServer, slurm: SlurmRig, manager: str,
           orchestrator: dict[str, float], **timeouts: float,
           ) -> tuple[GatewayConfig, GatewayProcess, GatewayStore, CampaignStore]:
    """`fleetflash gateway serve` for the emulated BMCs (one group allowing 2), with the
    Slurm manager table `manager`, started; and the stores the test reads."""
    path = write_gateway_config(
        tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
        bmcs=emulated.inventory, group_of=lambda _n: "all", groups={"all": 2},
        orchestrator={"lease_s": 3, **orchestrator},
        timeouts={"drain": 120, "undrain": 60, **timeouts})
    add_manager(path, slurm.conf, manager)
    config = load_config(path)
    gateway = GatewayProcess(path, tmp_path)
    gateway.start()
    images = GatewayStore.open(config.database_url)
    return config, gateway, images, CampaignStore(images.engine)


def test_kill_9_between_drain_and_resume_resumes_exactly_what_the_gateway_drained(
        slurm: SlurmRig, tmp_path: Path, test_keys: TestKeys,
        bundle_factory: BundleFactory) -> None:
    bundle = bundle_factory(name="fleet-crash.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    with emulated_rollout(test_keys, bundle, 4, flash_seconds=0.5,
                          reset_seconds=0.3) as (emulated, publisher, audit_from):
        # Each job runs until the test lets it end: a node stays in DRAIN, waiting for its
        # job, for as long as the test needs to kill the gateway there (jobs of a guessed
        # length could end before their node's turn, and DRAIN of an idle node lasts a
        # few Slurm calls: a poll can miss it).
        release = {n: tmp_path / f"release-{n}" for n in ("n1", "n2", "n3")}
        jobs = [slurm.hold(n, path) for n, path in release.items()]
        assert wait_for(lambda: all(slurm.job_states()[j] == "RUNNING" for j in jobs), 30)
        slurm.run("scontrol", "update", "nodename=n4", "state=drain", "reason=bad DIMM")
        # Generous bounds: a node waits in DRAIN through a restart (slow on a busy machine).
        config, gateway, images, campaigns = _serve(
            tmp_path, test_keys, emulated, publisher, slurm, "max_wait_s = 300", {}, drain=300)
        kills: list[tuple[str, str]] = []  # (node, its step) at each kill -9
        try:
            campaign = raise_alert_and_wait_for_campaign(
                config, images, campaigns, publisher, bundle, sha)

            def steps() -> dict[str, str]:
                return {r.node_id: r.step for r in campaigns.runs(campaign)}

            def kill_restart(node: str) -> None:
                kills.append((node, steps()[node]))
                gateway.kill()
                gateway.start()

            # Kill while a node waits for its job in DRAIN, then while that drained node is
            # being updated, for each of the three nodes in turn.
            for _ in range(3):
                node = wait_for(lambda: next((n for n, step in steps().items() if step == "drain"
                                              and not release[SLURM_NAMES[n]].exists()), ""),
                                120, describe=lambda: f"{kills} {steps()}")
                kill_restart(node)
                name = SLURM_NAMES[node]
                # The restarted gateway still holds it in DRAIN, with the drain it asked for.
                assert wait_for(lambda n=name: "DRAIN" in slurm.node_states()[n][1], 30)
                assert steps()[node] == "drain", (kills, steps())
                release[name].touch()
                wait_for(lambda n=node: steps()[n] in AFTER_DRAIN, 120,
                         describe=lambda: f"{kills} {steps()}")
                kill_restart(node)
            assert wait_for(lambda: [steps()[n] for n in ("bmc-0000", "bmc-0001", "bmc-0002")]
                            == ["done"] * 3, 180), (kills, steps())
        finally:
            gateway.stop()
            images.close()
    # Every kill landed where it was meant to: in DRAIN, then between the drain and the
    # resume, for each of the three nodes.
    order = [node for node, _ in kills[::2]]
    assert sorted(order) == ["bmc-0000", "bmc-0001", "bmc-0002"], kills
    assert [(node, "drain" if step == "drain" else "after" if step in AFTER_DRAIN else step)
            for node, step in kills] == [(n, w) for n in order for w in ("drain", "after")], kills
    assert steps()["bmc-0003"] == "pending"
    assert wait_for(lambda: [slurm.node_states()[n] for n in ("n1", "n2", "n3", "n4")] == [
        ("idle", ()), ("idle", ()), ("idle", ()), ("idle", ("DRAIN",))], 30), (
        kills, slurm.node_states())
    assert "bad DIMM" in slurm.run("sinfo", "-R", "-o", "%30E %N").stdout
    audit = emulated.audit.records()[audit_from:]
    assert not repeated_flashes(audit), kills
    completed = completed_jobs((slurm.root / "log" / "jobcomp.txt").read_text())
    assert {j.job_id for j in completed} >= set(jobs)
    assert jobs_during_updates(audit, completed, SLURM_NAMES) == [], kills


def test_kill_9_in_reservation_mode_keeps_one_reservation_per_wave_and_releases_them_all(
        slurm: SlurmRig, tmp_path: Path, test_keys: TestKeys,
        bundle_factory: BundleFactory) -> None:
    bundle = bundle_factory(name="fleet-crash-res.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    slurm.run("scontrol", "create", "reservation", "reservationname=operator-window",
              "nodes=n3", "starttime=now+1day", "duration=60", "users=root")
    with emulated_rollout(test_keys, bundle, 4, flash_seconds=2.0,
                          reset_seconds=0.3) as (emulated, publisher, audit_from):
        config, gateway, images, campaigns = _serve(
            tmp_path, test_keys, emulated, publisher, slurm, 'mode = "reservation"',
            {"expected_node_s": 60}, deliver=120)
        kills: list[str] = []
        seen: set[tuple[str, str]] = set()  # (reservation, nodes) Slurm showed
        try:
            campaign = raise_alert_and_wait_for_campaign(
                config, images, campaigns, publisher, bundle, sha)

            def steps() -> dict[str, str]:
                return {r.node_id: r.step for r in campaigns.runs(campaign)}

            def watch() -> dict[str, str]:
                shown = slurm.run("scontrol", "-o", "show", "reservation").stdout
                for line in shown.splitlines():
                    fields = dict(t.split("=", 1) for t in line.split() if "=" in t)
                    if fields.get("ReservationName", "").startswith("fleetflash-"):
                        seen.add((fields["ReservationName"], fields["Nodes"]))
                return steps()

            # Kill while each wave is updated inside its reservation (once per wave: the
            # next wave is booked by then).
            for wave in (("bmc-0000",), ("bmc-0001", "bmc-0002"), ("bmc-0003",)):
                if not wait_for(lambda w=wave: any(watch()[n] in AFTER_DRAIN for n in w), 120):
                    break
                kills.append(",".join(sorted(set(steps().values()) - {"pending", "done"})))
                gateway.kill()
                gateway.start()
            assert wait_for(lambda: set(watch().values()) == {"done"}, 240,
                            describe=lambda: f"{kills} {steps()} {seen} "
                            f"{campaigns.reservations(campaign)}"), (kills, steps())
            assert wait_for(lambda: campaigns.reservations(campaign) == [], 30)
        finally:
            gateway.stop()
            images.close()
    assert len(kills) >= 2, kills
    # One reservation per wave, never two for one node at a time; all deleted at the end,
    # the operator's reservation left alone; nothing drained.
    by_nodes: dict[str, set[str]] = {}
    for name, nodes in seen:
        by_nodes.setdefault(nodes, set()).add(name)
    assert all(len(names) == 1 for names in by_nodes.values()), seen
    shown = slurm.run("scontrol", "-o", "show", "reservation").stdout
    assert [line.split()[0] for line in shown.splitlines()] == [
        "ReservationName=operator-window"], shown
    assert wait_for(lambda: all(s == ("idle", ()) for s in slurm.node_states().values()), 30)
    audit = emulated.audit.records()[audit_from:]
    assert not repeated_flashes(audit), kills
    completed = completed_jobs((slurm.root / "log" / "jobcomp.txt").read_text())
    assert jobs_during_updates(audit, completed, SLURM_NAMES) == [], kills
