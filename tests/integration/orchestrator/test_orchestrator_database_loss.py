"""The database lost mid-rollout: a real `gateway serve` on a private PostgreSQL server
that is stopped while nodes are in flight and started again. The gateway notices, acts
on no BMC while it cannot check its leases, and finishes the rollout once the database
is back, with every audit-log invariant (no second flash, groups within allowance, no
media left inserted, versions read back)."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    write_gateway_config,
)
from tests.integration.orchestrator.test_orchestrator_crash_safety import GatewayProcess
from tests.support.postgres import PostgresServer, start_postgres

NODES = 8
GROUPS = {"even": 2, "odd": 2}
BUSY = {"precheck", "deliver", "monitor", "wait_back", "verify", "postcheck", "eject"}


def group_of(node: str) -> str:
    return "even" if int(node.rsplit("-", 1)[1]) % 2 == 0 else "odd"


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def test_rollout_survives_losing_the_database_mid_flight(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        private_postgres: PostgresServer) -> None:
    url = private_postgres.create_database("fleet")
    bundle = bundle_factory(name="db-loss.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL)] * NODES,
                         trusted_keys=[test_keys.public], flash_seconds=0.5,
                         reset_seconds=0.3, bmc_restart_seconds=0.3) as emulated, \
            BundleServer([bundle]) as publisher:
        power_on(emulated)
        audit_from = len(emulated.audit.records())
        config_path = write_gateway_config(
            tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=group_of, groups=GROUPS,
            orchestrator={"lease_s": 5}, database_url=url)
        gateway = GatewayProcess(config_path, tmp_path)
        gateway.start()
        images = GatewayStore.open(url)
        campaigns = CampaignStore(images.engine)
        try:
            outcome = IntakeService(load_config(config_path), images).raise_alert(
                source="acme", image_uri=publisher.url_for(bundle), image_sha256=sha,
                bundle_id="test-bundle", release="test")
            assert not outcome.refused, outcome.reason
            assert wait_for(lambda: images.get_image(sha).state is ImageState.VERIFIED, 60)
            assert wait_for(lambda: bool(campaigns.list_campaigns()), 60)
            campaign_id = campaigns.list_campaigns()[0].id
            assert wait_for(lambda: len([r for r in campaigns.runs(campaign_id)
                                         if r.step in BUSY]) >= 2, 60)

            private_postgres.stop()
            logged = len(gateway.log.read_text())
            # The gateway notices (its next store call fails) before the database returns.
            assert wait_for(lambda: "database error" in gateway.log.read_text()[logged:]
                            or "tick failed" in gateway.log.read_text()[logged:], 30)
            private_postgres.restart()

            assert wait_for(lambda: campaigns.get_campaign(campaign_id).state
                            in ("completed", "failed", "paused_budget"), 180)
            final = campaigns.get_campaign(campaign_id)
            runs = campaigns.runs(campaign_id)
            assert gateway.process is not None and gateway.process.poll() is None
        finally:
            gateway.stop()
            images.close()

        assert final.state == "completed", (final.reason,
                                            [(r.node_id, r.step, r.error) for r in runs])
        assert Counter(r.step for r in runs) == {"done": NODES}
        audit = emulated.audit.records()[audit_from:]
        assert not repeated_flashes(audit), repeated_flashes(audit)
        peaks = max_down_per_group(audit, group_of)
        assert all(peaks[g] <= GROUPS[g] for g in peaks), peaks
        for bmc in emulated.bmcs:
            assert bmc.firmware.installed() == TARGET_VERSIONS, bmc.id
            assert not bmc.media.inserted, bmc.id
            assert bmc.boot.enabled == "Disabled", bmc.id
