"""Crash safety: `kill -9` a real `fleetflash gateway serve` at random points of an MSC
campaign on the emulator (store: SQLite, then PostgreSQL), restart it each time, and
check the emulator's audit log: nobody flashed twice, no group ever had more nodes down
than its allowance, no virtual media left inserted, no boot override left pending, every
node on the new versions."""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from gateway.config import load_config
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    assert_rollout_invariants,
    emulated_rollout,
    even_odd_group,
    raise_alert_and_wait_for_campaign,
    serving,
    wait_until_finished,
    write_gateway_config,
)

NODES = 12
GROUPS = {"even": 1, "odd": 2}
KILLS = 10
SEED_VARIABLE = "FLEETFLASH_CRASH_SEED"  # docs/orchestration.md


def crash_seed() -> int:
    """The seed of the kill schedule: FLEETFLASH_CRASH_SEED replays a run, else a fresh
    one. Printed first, so a failure's captured output always shows it."""
    given = os.environ.get(SEED_VARIABLE, "").strip()
    if given and not given.isdigit():
        pytest.fail(f"{SEED_VARIABLE} must be a whole number, not {given!r}")
    seed = int(given) if given else random.SystemRandom().randrange(1 << 30)
    print(f"crash-safety seed {seed}; replay with {SEED_VARIABLE}={seed}")
    return seed


# A chaos test on a loaded 2-core machine: one rerun absorbs a seed whose kills land where a
# restart under load outlasts the step timeouts (the seed is printed; replay it with
# FLEETFLASH_CRASH_SEED). A defect that fails twice still fails the suite.
@pytest.mark.flaky(reruns=1)
def test_kill_9_at_random_points_keeps_every_invariant(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        database_url: str) -> None:
    # Runs on SQLite and on a real PostgreSQL (tests/support/postgres.py).
    seed = crash_seed()
    rng = random.Random(seed)
    bundle = bundle_factory(name="fleet-crash.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    # The rollout must outlast the kill loop, or the campaign completes before the tenth
    # kill (a faster gateway did that: 9 kills, CI 2026-12-07). Undisturbed, this one takes
    # ~17 s on the 2-core machine; the kills' sleeps add up to at most 12 s, and each
    # restart only slows the rollout further.
    with emulated_rollout(test_keys, bundle, NODES, flash_seconds=0.5,
                          reset_seconds=0.3) as (emulated, publisher, audit_from):
        config_path = write_gateway_config(
            tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=even_odd_group, groups=GROUPS,
            # A kill during a node's CD transfer costs that node one redelivery (the
            # orphaned run's TransferFailed belongs to the attempt it ended, not to the
            # redelivery: test_orchestrator_crash_redelivery.py). The canary is alone in
            # flight while the first kills land, so it may take one per kill.
            orchestrator={"lease_s": 5, "max_redeliveries": KILLS},
            database_url=database_url,
            # Up to 10 restarts land inside MONITOR: its clock runs while the gateway is
            # down, so the step may take several restarts long (only slowness waits).
            timeouts={"monitor": 120, "verify": 30})
        config = load_config(config_path)
        with serving([config_path], config.database_url) as ([gateway], images, campaigns):
            campaign_id = raise_alert_and_wait_for_campaign(config, images, campaigns,
                                                            publisher, bundle, sha)

            # Steps the campaign's nodes were in at each kill (where the crashes landed).
            kill_points: Counter[str] = Counter()
            hit: Counter[str] = Counter()  # per node: kills while it was (about to be) delivered to
            kills = 0
            deadline = time.monotonic() + 150
            while kills < KILLS:
                assert time.monotonic() < deadline, f"seed {seed}: too slow"
                time.sleep(rng.uniform(0.1, 1.2))
                if campaigns.get_campaign(campaign_id).state == "completed":
                    break
                now = campaigns.runs(campaign_id)
                gateway.kill()
                kills += 1
                kill_points.update({r.step for r in now} - {"pending", "done"})
                hit.update(r.node_id for r in now if r.step in ("precheck", "deliver", "monitor"))
                gateway.start()
            final, runs = wait_until_finished(campaigns, campaign_id, 120)

        message = f"seed {seed}, {kills} kills at {dict(kill_points)}"
        assert kills >= KILLS, message
        assert final.state == "completed", (message, final.reason,
                                            [(r.node_id, r.step, r.error) for r in runs])
        assert Counter(r.step for r in runs) == {"done": NODES}, message
        # A node is delivered to again at most once per kill that hit its delivery.
        assert all(r.progress.redeliveries <= hit[r.node_id] for r in runs), (
            message, dict(hit), {r.node_id: r.progress.redeliveries for r in runs})
        assert_rollout_invariants(emulated, audit_from, even_odd_group, GROUPS, message)
