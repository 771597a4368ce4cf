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

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.publisher import BundleServer
from gateway.config import load_config
from gateway.intake.service import IntakeService
from gateway.store import GatewayStore, ImageState
from gateway.store.campaigns import CampaignStore
from lab.lab_invariants import repeated_flashes
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.conftest import power_on
from tests.integration.orchestrator.rig import (
    TARGET_VERSIONS,
    TEST_MODEL,
    max_down_per_group,
    wait_for,
)
from tests.integration.orchestrator.test_orchestrator_crash_safety import GatewayProcess
from tests.integration.orchestrator.test_orchestrator_fleet import _configs

NODES = 24
ALLOWANCE = 2
KILLS = 5


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
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL)] * NODES,
                         trusted_keys=[test_keys.public], flash_seconds=1.0,
                         reset_seconds=0.2, bmc_restart_seconds=0.3) as emulated, \
            BundleServer([bundle]) as publisher:
        power_on(emulated)
        audit_from = len(emulated.audit.records())
        paths = _configs(tmp_path, postgres_url, publisher_prefix=publisher.base_url,
                         trusted_key=test_keys.public, bmcs=emulated.inventory,
                         group_of=group_of, groups=groups, orchestrator={"lease_s": 4})
        gateways = [GatewayProcess(path, path.parent) for path in paths]
        images = GatewayStore.open(postgres_url)
        campaigns = CampaignStore(images.engine)
        kills: list[str] = []
        try:
            for gateway in gateways:
                gateway.start()
            outcome = IntakeService(load_config(paths[0]), images).raise_alert(
                source="acme", image_uri=publisher.url_for(bundle), image_sha256=sha,
                bundle_id="test-bundle", release="test")
            assert not outcome.refused, outcome.reason
            assert wait_for(lambda: images.get_image(sha).state is ImageState.VERIFIED, 60)
            assert wait_for(lambda: bool(campaigns.list_campaigns()), 60)
            campaign_id = campaigns.list_campaigns()[0].id
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
            assert wait_for(lambda: campaigns.get_campaign(campaign_id).state
                            in ("completed", "failed", "paused_budget"), 240)
            final = campaigns.get_campaign(campaign_id)
            runs = campaigns.runs(campaign_id)
        finally:
            for gateway in gateways:
                gateway.stop()
            images.close()

        message = f"seed {seed}, kills {kills}"
        assert len(kills) == KILLS, message
        assert final.state == "completed", (message, final.reason,
                                            [(r.node_id, r.step, r.error) for r in runs])
        assert Counter(r.step for r in runs) == {"done": NODES}, message
        audit = emulated.audit.records()[audit_from:]
        assert not repeated_flashes(audit), (message, repeated_flashes(audit))
        written = Counter((r["bmc"], r["component"]) for r in audit if r["event"] == "flash_end")
        assert set(written.values()) == {1} and len(written) == NODES * len(TARGET_VERSIONS)
        peaks = max_down_per_group(audit, group_of)
        assert all(peaks[g] <= ALLOWANCE for g in peaks), (message, peaks)
        for bmc in emulated.bmcs:
            assert bmc.firmware.installed() == TARGET_VERSIONS, (message, bmc.id)
            assert not bmc.media.inserted, (message, bmc.id)
            assert bmc.boot.enabled == "Disabled", (message, bmc.id)
