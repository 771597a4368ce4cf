"""Three real `fleetflash gateway serve` processes on one PostgreSQL and the emulator.

The admitted nodes are spread over the live gateways; the busiest is killed
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

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.publisher import BundleServer
from gateway.config import load_config
from gateway.intake.service import IntakeService
from gateway.store import GatewayStore, ImageState
from gateway.store.campaigns import CampaignStore
from gateway.store.gateways import list_members
from lab.lab_invariants import repeated_flashes
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.conftest import power_on
from tests.integration.orchestrator.rig import (
    TARGET_VERSIONS,
    TEST_MODEL,
    max_down_per_group,
    wait_for,
    write_gateway_config,
)
from tests.integration.orchestrator.test_orchestrator_crash_safety import (
    FLEETFLASH,
    GatewayProcess,
)

NODES = 12
GROUPS = {"even": 2, "odd": 2}
GATEWAYS = 3
BUSY = {"precheck", "deliver", "monitor", "wait_back", "verify", "postcheck", "eject"}


def group_of(node: str) -> str:
    return "even" if int(node.rsplit("-", 1)[1]) % 2 == 0 else "odd"


def _configs(tmp_path: Path, url: str, **kwargs: object) -> list[Path]:
    shared_cache = tmp_path / "shared-cache"  # one host: the gateways share verified images
    paths = []
    for index in range(GATEWAYS):
        directory = tmp_path / f"gw{index}"
        directory.mkdir()
        path = write_gateway_config(directory, database_url=url, name=f"gw-{index}",
                                    **kwargs)  # type: ignore[arg-type]
        path.write_text(path.read_text().replace(
            "[cache]\n", f'[cache]\ndir = "{shared_cache}"\n', 1))
        paths.append(path)
    return paths


def test_three_gateways_share_the_rollout_and_survive_a_kill_9(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        postgres_url: str) -> None:
    bundle = bundle_factory(name="fleet-three.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL)] * NODES,
                         trusted_keys=[test_keys.public], flash_seconds=0.4,
                         reset_seconds=0.3, bmc_restart_seconds=0.3) as emulated, \
            BundleServer([bundle]) as publisher:
        power_on(emulated)
        audit_from = len(emulated.audit.records())
        paths = _configs(tmp_path, postgres_url, publisher_prefix=publisher.base_url,
                         trusted_key=test_keys.public, bmcs=emulated.inventory,
                         group_of=group_of, groups=GROUPS, orchestrator={"lease_s": 4})
        gateways = [GatewayProcess(path, path.parent) for path in paths]
        images = GatewayStore.open(postgres_url)
        campaigns = CampaignStore(images.engine)
        try:
            for gateway in gateways:
                gateway.start()
            assert wait_for(lambda: sum(m.alive for m in list_members(images.engine))
                            == GATEWAYS, 30)

            # A second process under a live gateway's name is refused before it acts.
            twin = subprocess.run([str(FLEETFLASH), "gateway", "serve", "--config",
                                   str(paths[0])], capture_output=True, text=True,
                                  timeout=120)
            assert twin.returncode == 1 and "'gw-0' is in use" in twin.stderr, twin.stderr
            assert "Address already in use" not in twin.stderr  # refused before listening

            config = load_config(paths[0])
            outcome = IntakeService(config, images).raise_alert(
                source="acme", image_uri=publisher.url_for(bundle), image_sha256=sha,
                bundle_id="test-bundle", release="test")
            assert not outcome.refused, outcome.reason
            assert wait_for(lambda: images.get_image(sha).state is ImageState.VERIFIED, 60)
            assert wait_for(lambda: bool(campaigns.list_campaigns()), 60)
            campaign_id = campaigns.list_campaigns()[0].id

            def holders() -> Counter[str]:
                return Counter(r.lease_owner for r in campaigns.runs(campaign_id)
                               if r.step in BUSY and r.lease_owner)

            # Work is spread: at some moment at least two gateways drive nodes.
            assert wait_for(lambda: len(holders()) >= 2, 60), holders()
            victim_name, _ = holders().most_common(1)[0]
            victim = gateways[int(victim_name.rsplit("-", 1)[1])]
            orphaned = {r.node_id for r in campaigns.runs(campaign_id)
                        if r.lease_owner == victim_name and r.step in BUSY}
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
            assert wait_for(lambda: campaigns.get_campaign(campaign_id).state
                            in ("completed", "failed", "paused_budget"), 180)
            final = campaigns.get_campaign(campaign_id)
            runs = campaigns.runs(campaign_id)
            members = {m.name: m.alive for m in list_members(images.engine)}
        finally:
            for gateway in gateways:
                gateway.stop()
            images.close()

        assert orphaned, "the victim held no node when it was killed"
        assert rejoined and given_work, "the restarted gateway was given no new node"
        assert final.state == "completed", (final.reason,
                                            [(r.node_id, r.step, r.error) for r in runs])
        assert Counter(r.step for r in runs) == {"done": NODES}
        assert members[victim_name] is True and sum(members.values()) == GATEWAYS
        audit = emulated.audit.records()[audit_from:]
        assert not repeated_flashes(audit), repeated_flashes(audit)
        written = Counter((r["bmc"], r["component"]) for r in audit if r["event"] == "flash_end")
        assert set(written.values()) == {1}
        assert len(written) == NODES * len(TARGET_VERSIONS)
        peaks = max_down_per_group(audit, group_of)
        assert all(peaks[g] <= GROUPS[g] for g in peaks), peaks
        for bmc in emulated.bmcs:
            assert bmc.firmware.installed() == TARGET_VERSIONS, bmc.id
            assert not bmc.media.inserted, bmc.id
            assert bmc.boot.enabled == "Disabled", bmc.id
