"""Chaos at the scale docs/performance.md ("Several gateways") names: three `gateway
serve` processes on one PostgreSQL roll out 60 emulated nodes while a random gateway is
killed with -9 five times and restarted each time. Every kill is checked to land in the
middle of the rollout (the campaign running, nodes in flight, nodes still waiting).
Checked on the emulator's audit log: no component flashed twice, no group over its
allowance, no media left inserted, every node done on the target versions.

Sized for a 2-core CI runner: six groups of ten with an allowance of two make five
waves of twelve nodes. Kill k waits until k sixths of the nodes are done, so the kills
spread one per wave however long a restart takes on a loaded machine."""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections import Counter
from pathlib import Path

from gateway.config import load_config
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    IN_FLIGHT,
    assert_rollout_invariants,
    emulated_rollout,
    fleet_configs,
    raise_alert_and_wait_for_campaign,
    serving,
    wait_until_finished,
)
from tests.support.waiting import wait_until

NODES = 60
GROUPS = 6
ALLOWANCE = 2
KILLS = 5
GATEWAYS = 3


def group_of(node: str) -> str:
    return f"g{int(node.rsplit('-', 1)[1]) % GROUPS}"


def test_five_kill_9_of_random_gateways_keep_every_invariant(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        postgres_url: str) -> None:
    seed = int(os.environ.get("FLEETFLASH_CHAOS_SEED")
               or random.SystemRandom().randrange(1 << 30))
    rng = random.Random(seed)
    groups = {f"g{i}": ALLOWANCE for i in range(GROUPS)}
    bundle = bundle_factory(name="fleet-chaos.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    with emulated_rollout(test_keys, bundle, NODES, flash_seconds=1.0,
                          reset_seconds=0.2) as (emulated, publisher, audit_from):
        paths = fleet_configs(tmp_path, postgres_url, GATEWAYS,
                              publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
                              bmcs=emulated.inventory, group_of=group_of, groups=groups,
                              orchestrator={"lease_s": 4})
        # Per kill: the gateway, and how many runs were done and in flight just before.
        kills: list[tuple[str, int, int]] = []
        with serving(paths, postgres_url) as (gateways, images, campaigns):
            campaign_id = raise_alert_and_wait_for_campaign(
                load_config(paths[0]), images, campaigns, publisher, bundle, sha)

            def progress() -> tuple[int, int]:
                steps = Counter(r.step for r in campaigns.runs(campaign_id))
                return steps["done"], sum(steps[s] for s in IN_FLIGHT)

            for kill in range(KILLS):
                # Kill k waits for k sixths of the nodes to be done (about one kill per
                # wave, the last in the last waves), a random moment, then for nodes
                # in flight.
                wait_until(lambda k=kill: progress()[0] >= k * NODES // (KILLS + 1), 240,
                           describe=f"seed {seed}: kill {kill}")
                time.sleep(rng.uniform(0.0, 2.0))
                done, in_flight = wait_until(lambda: (now := progress())[1] > 0 and now, 240,
                                             describe=f"seed {seed}: kill {kill} in flight")
                index = rng.randrange(len(gateways))
                gateways[index].kill()
                kills.append((f"gw-{index}", done, in_flight))
                gateways[index].start()
            final, runs = wait_until_finished(campaigns, campaign_id, 300)

        message = f"seed {seed}, kills (gateway, done, in flight) {kills}"
        # Every kill landed mid-rollout: nodes in flight, spread over the waves.
        assert all(in_flight > 0 and done >= k * NODES // (KILLS + 1)
                   for k, (_gw, done, in_flight) in enumerate(kills)), message
        assert final.state == "completed", (message, final.reason,
                                            [(r.node_id, r.step, r.error) for r in runs])
        assert Counter(r.step for r in runs) == {"done": NODES}, message
        assert_rollout_invariants(emulated, audit_from, group_of, groups, message)
