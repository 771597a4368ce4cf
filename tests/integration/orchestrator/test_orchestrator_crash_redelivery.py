"""One `kill -9` of a real `fleetflash gateway serve` while a node's update CD reads
its image from that gateway costs the node one redelivery, not two: the restarted
gateway delivers again once, and the TransferFailed the orphaned CD run logs belongs
to the attempt it ended, not to the redelivery that replaces it."""

from __future__ import annotations

import time
from pathlib import Path

from firmware_payloads.sources import CONNECT_RETRY_PAUSES_S
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    TARGET_VERSIONS,
    emulated_rollout,
    named_bundle,
    one_gateway_campaign,
    wait_until_finished,
    write_gateway_config,
)
from tests.support.waiting import wait_until


def test_a_kill_during_the_cd_transfer_costs_one_redelivery(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    bundle, sha = named_bundle(bundle_factory, "fleet-kill.iso")
    # Each component takes a second to write: the CD reads the next package from the
    # gateway's media server well after the kill.
    with emulated_rollout(test_keys, bundle, 1, flash_seconds=1.0,
                          reset_seconds=0.15) as (emulated, publisher, audit_from):
        config_path = write_gateway_config(
            tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=lambda _n: "all", groups={"all": 1},
            orchestrator={"lease_s": 5, "max_redeliveries": 3},
            timeouts={"monitor": 120, "verify": 30})
        with one_gateway_campaign(config_path, publisher, bundle, sha) as (
                gateway, campaigns, campaign_id):

            def writing() -> bool:
                return any(r["event"] == "flash_start" and r.get("source") == "update_cd"
                           for r in emulated.audit.records()[audit_from:])

            wait_until(writing, 60)
            gateway.kill()  # the CD is writing its first component, the rest to read
            # The CD's reader connects again for a while after a refused connection (a
            # gateway back by then serves the rest: no redelivery at all); down longer,
            # the transfer fails, which is what this test is about.
            time.sleep(sum(CONNECT_RETRY_PAUSES_S) + 1.0)
            gateway.start()
            final, runs = wait_until_finished(campaigns, campaign_id, 120)

        (run,) = runs
        assert final.state == "completed", (final.reason, run.step, run.error)
        assert run.step == "done", (run.step, run.error)
        assert emulated.bmcs[0].firmware.installed() == TARGET_VERSIONS
        audit = emulated.audit.records()[audit_from:]
        # The orphaned CD run did stop on a failed transfer (what the test is about) ...
        assert any(r["event"] == "flash_failed" and r.get("message") == "Update.TransferFailed"
                   for r in audit), audit
        # ... and the node was delivered to twice in all: once before the kill, once after.
        cd_boots = [r for r in audit if r["event"] == "reset"
                    and r.get("reason") != "update CD finished"]
        assert run.progress.redeliveries == 1, (run.progress, cd_boots)
        assert len(cd_boots) == 2, cd_boots
