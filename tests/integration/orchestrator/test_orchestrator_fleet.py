"""Three real `fleetflash gateway serve` processes on one PostgreSQL and the emulator.

Each gateway has its own image cache (as on three hosts): the one whose intake
acquires the image is the only one that reads the publisher; the others read it from
that peer's media server and verify it again. The admitted nodes are spread over the
live gateways; the busiest is killed
with -9 mid-rollout: its nodes are taken over by the others after its leases
expire, it is restarted under its name and given new work, and the rollout
finishes with every audit-log invariant of the lab: no component flashed twice,
no group over its allowance, no media left inserted, every node on the target
versions. A fourth process with a name in use is refused.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from gateway.config import load_config
from gateway.store.gateways import list_members
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    IN_FLIGHT,
    assert_rollout_invariants,
    emulated_rollout,
    even_odd_group,
    fleet_configs,
    raise_alert_and_wait_for_campaign,
    serving,
    wait_for,
    wait_until_finished,
)
from tests.support.gateway_process import FLEETFLASH

NODES = 12
GROUPS = {"even": 2, "odd": 2}
GATEWAYS = 3


def test_three_gateways_share_the_rollout_and_survive_a_kill_9(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        postgres_url: str) -> None:
    bundle = bundle_factory(name="fleet-three.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    with emulated_rollout(test_keys, bundle, NODES, flash_seconds=0.4,
                          reset_seconds=0.3) as (emulated, publisher, audit_from):
        paths = fleet_configs(tmp_path, postgres_url, GATEWAYS,
                              publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
                              bmcs=emulated.inventory, group_of=even_odd_group, groups=GROUPS,
                              orchestrator={"lease_s": 4})
        with serving(paths, postgres_url) as (gateways, images, campaigns):
            assert wait_for(lambda: sum(m.alive for m in list_members(images.engine))
                            == GATEWAYS, 30)

            # A second process under a live gateway's name is refused before it acts.
            twin = subprocess.run([str(FLEETFLASH), "gateway", "serve", "--config",
                                   str(paths[0])], capture_output=True, text=True,
                                  timeout=120)
            assert twin.returncode == 1 and "'gw-0' is in use" in twin.stderr, twin.stderr
            assert "Address already in use" not in twin.stderr  # refused before listening

            campaign_id = raise_alert_and_wait_for_campaign(
                load_config(paths[0]), images, campaigns, publisher, bundle, sha)

            def holders() -> Counter[str]:
                return Counter(r.lease_owner for r in campaigns.runs(campaign_id)
                               if r.step in IN_FLIGHT and r.lease_owner)

            # Work is spread: at some moment at least two gateways drive nodes.
            assert wait_for(lambda: len(holders()) >= 2, 60), holders()
            victim_name, _ = holders().most_common(1)[0]
            victim = gateways[int(victim_name.rsplit("-", 1)[1])]
            orphaned = {r.node_id for r in campaigns.runs(campaign_id)
                        if r.lease_owner == victim_name and r.step in IN_FLIGHT}
            victim.kill()
            victim_started = datetime.now(UTC)

            # The others take the victim's nodes over once its leases expire...
            assert wait_for(lambda: not ({r.node_id for r in campaigns.runs(campaign_id)
                                          if r.lease_owner == victim_name} & orphaned), 60)
            # ...and the victim, restarted under its name, rejoins and is given new work.
            victim.start()
            rejoined = wait_for(lambda: victim_name in holders()
                                or campaigns.get_campaign(campaign_id).state != "running", 60)
            given_work = victim_name in holders() or any(
                r.node_id not in orphaned and r.started_at is not None
                and r.started_at > victim_started for r in campaigns.runs(campaign_id))
            final, runs = wait_until_finished(campaigns, campaign_id, 180)
            members = {m.name: m.alive for m in list_members(images.engine)}

        assert orphaned, "the victim held no node when it was killed"
        assert rejoined and given_work, "the restarted gateway was given no new node"
        assert final.state == "completed", (final.reason,
                                            [(r.node_id, r.step, r.error) for r in runs])
        assert Counter(r.step for r in runs) == {"done": NODES}
        assert members[victim_name] is True and sum(members.values()) == GATEWAYS
        assert_rollout_invariants(emulated, audit_from, even_odd_group, GROUPS)
        # The origin served the image once (after the intake's ranged read of the
        # manifest); every gateway that drove a node holds a verified copy in its own
        # cache, read from a peer.
        origin = [r for r in publisher.access_log if r.path.endswith(bundle.name)]
        assert [r.status for r in origin if r.range is None] == [200], origin
        drivers = {r.lease_owner for r in runs if r.lease_owner}
        copies = {path.relative_to(tmp_path).parts[0] for path in tmp_path.glob(
            f"gw*/**/{sha}*") if path.is_file() and not path.name.endswith(".part")}
        assert len(copies) >= 2, (copies, drivers)
