"""Crash safety: `kill -9` a real `fleetflash gateway serve` at random points of an MSC
campaign on the emulator (store: SQLite, then PostgreSQL), restart it each time, and
check the emulator's audit log: nobody flashed twice, no group ever had more nodes down
than its allowance, no virtual media left inserted, no boot override left pending, every
node on the new versions."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
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

NODES = 12
GROUPS = {"even": 1, "odd": 2}
KILLS = 10
FLEETFLASH = Path(sys.executable).with_name("fleetflash")
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


def group_of(node: str) -> str:
    return "even" if int(node.rsplit("-", 1)[1]) % 2 == 0 else "odd"


class GatewayProcess:
    """`fleetflash gateway serve` as a child process, logging to a file per start."""

    def __init__(self, config: Path, log_dir: Path) -> None:
        self.config = config
        self.log_dir = log_dir
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = log_dir / "gateway-0.log"

    def start(self) -> None:
        self.starts += 1
        self.log = self.log_dir / f"gateway-{self.starts}.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(FLEETFLASH), "gateway", "serve", "--config", str(self.config)],
                stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONHASHSEED": "0"})
        ready = wait_for(lambda: b"running; state in" in self.log.read_bytes()
                         or self.process is None or self.process.poll() is not None, 60)
        assert ready and self.process.poll() is None, self.log.read_text()[-3000:]

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def test_kill_9_at_random_points_keeps_every_invariant(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        database_url: str) -> None:
    # Runs on SQLite and on a real PostgreSQL (tests/support/postgres.py).
    seed = crash_seed()
    rng = random.Random(seed)
    bundle = bundle_factory(name="fleet-crash.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL)] * NODES,
                         trusted_keys=[test_keys.public], flash_seconds=0.15,
                         reset_seconds=0.15, bmc_restart_seconds=0.3) as emulated, \
            BundleServer([bundle]) as publisher:
        power_on(emulated)
        audit_from = len(emulated.audit.records())
        config_path = write_gateway_config(
            tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=group_of, groups=GROUPS,
            orchestrator={"lease_s": 5}, database_url=database_url)
        config = load_config(config_path)
        gateway = GatewayProcess(config_path, tmp_path)
        gateway.start()
        images = GatewayStore.open(config.database_url)
        campaigns = CampaignStore(images.engine)
        try:
            outcome = IntakeService(config, images).raise_alert(
                source="acme", image_uri=publisher.url_for(bundle), image_sha256=sha,
                bundle_id="test-bundle", release="test")
            assert not outcome.refused, outcome.reason
            assert wait_for(lambda: images.get_image(sha).state is ImageState.VERIFIED, 60)
            assert wait_for(lambda: bool(campaigns.list_campaigns()), 60)
            campaign_id = campaigns.list_campaigns()[0].id

            # Steps the campaign's nodes were in at each kill (where the crashes landed).
            kill_points: Counter[str] = Counter()
            kills = 0
            deadline = time.monotonic() + 150
            while kills < KILLS:
                assert time.monotonic() < deadline, f"seed {seed}: too slow"
                time.sleep(rng.uniform(0.1, 1.2))
                if campaigns.get_campaign(campaign_id).state == "completed":
                    break
                steps = {r.step for r in campaigns.runs(campaign_id)}
                gateway.kill()
                kills += 1
                kill_points.update(steps - {"pending", "done"})
                gateway.start()
            assert wait_for(lambda: campaigns.get_campaign(campaign_id).state
                            in ("completed", "failed", "paused_budget"), 120)
            final = campaigns.get_campaign(campaign_id)
            runs = campaigns.runs(campaign_id)
        finally:
            gateway.stop()
            images.close()

        message = f"seed {seed}, {kills} kills at {dict(kill_points)}"
        assert kills >= KILLS, message
        assert final.state == "completed", (message, final.reason,
                                            [(r.node_id, r.step, r.error) for r in runs])
        assert Counter(r.step for r in runs) == {"done": NODES}, message
        audit = emulated.audit.records()[audit_from:]
        doubles = repeated_flashes(audit)
        assert not doubles, (message, doubles)
        written = Counter((r["bmc"], r["component"]) for r in audit if r["event"] == "flash_end")
        assert set(written.values()) == {1}, message
        assert len(written) == NODES * len(TARGET_VERSIONS), message
        peaks = max_down_per_group(audit, group_of)
        assert all(peaks[g] <= GROUPS[g] for g in peaks), (message, peaks)
        for bmc in emulated.bmcs:
            assert bmc.firmware.installed() == TARGET_VERSIONS, (message, bmc.id)
            assert not bmc.media.inserted, (message, bmc.id)
            assert bmc.boot.enabled == "Disabled", (message, bmc.id)
