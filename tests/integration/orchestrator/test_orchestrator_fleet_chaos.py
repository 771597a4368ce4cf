"""Chaos: three `gateway serve` processes on one PostgreSQL roll out 24 emulated nodes
while a random gateway is killed with -9 five times and restarted each time. Checked on
the emulator's audit log: no component flashed twice, no group over its allowance, no
media left inserted, every node done on the target versions."""

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
    assert_rollout_invariants,
    emulated_rollout,
    fleet_configs,
    raise_alert_and_wait_for_campaign,
    serving,
    wait_until_finished,
)

NODES = 24
ALLOWANCE = 2
KILLS = 5
GATEWAYS = 3


def group_of(node: str) -> str:
    return f"g{int(node.rsplit('-', 1)[1]) % 4}"


def test_five_kill_9_of_random_gateways_keep_every_invariant(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        postgres_url: str) -> None:
    seed = int(os.environ.get("FLEETFLASH_CHAOS_SEED")
               or random.SystemRandom().randrange(1 << 30))
    rng = random.Random(seed)
    groups = {f"g{i}": ALLOWANCE for i in range(4)}
    bundle = bundle_factory(name="fleet-chaos.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    # Flashes long enough that five kills, each followed by a restart, fit in the rollout.
    with emulated_rollout(test_keys, bundle, NODES, flash_seconds=2.0,
                          reset_seconds=0.2) as (emulated, publisher, audit_from):
        paths = fleet_configs(tmp_path, postgres_url, GATEWAYS,
                              publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
                              bmcs=emulated.inventory, group_of=group_of, groups=groups,
                              orchestrator={"lease_s": 4})
        kills: list[str] = []
        with serving(paths, postgres_url) as (gateways, images, campaigns):
            campaign_id = raise_alert_and_wait_for_campaign(
                load_config(paths[0]), images, campaigns, publisher, bundle, sha)
            deadline = time.monotonic() + 240
            while len(kills) < KILLS:
                assert time.monotonic() < deadline, f"seed {seed}: too slow"
                time.sleep(rng.uniform(0.3, 1.5))
                if campaigns.get_campaign(campaign_id).state != "running":
                    break
                index = rng.randrange(len(gateways))
                gateways[index].kill()
                kills.append(f"gw-{index}")
                gateways[index].start()
            final, runs = wait_until_finished(campaigns, campaign_id, 240)

        message = f"seed {seed}, kills {kills}"
        assert len(kills) == KILLS, message
        assert final.state == "completed", (message, final.reason,
                                            [(r.node_id, r.step, r.error) for r in runs])
        assert Counter(r.step for r in runs) == {"done": NODES}, message
        assert_rollout_invariants(emulated, audit_from, group_of, groups, message)
