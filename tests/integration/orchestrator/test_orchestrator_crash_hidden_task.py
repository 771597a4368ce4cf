"""A `kill -9` of a real `fleetflash gateway serve` after its update request reached
the BMC but before the 202 came back, on a BMC whose new task answers 404 at first
(task-monitor-404-at-first, iDRAC10): the restarted gateway waits for the hidden task
and follows it instead of sending the update again (a real BMC might accept a second
job). docs/interop.md, "Vendor quirks"."""

from __future__ import annotations

from pathlib import Path

from emulator.firmware.engine import UPDATE_TASK_NAME
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    TARGET_VERSIONS,
    emulated_rollout,
    flash_counts,
    named_bundle,
    one_gateway_campaign,
    wait_until_finished,
    write_gateway_config,
)
from tests.support.waiting import wait_until

HIDDEN_S = 20  # the new task's 404 window (longer than a gateway restart takes)


def test_a_kill_inside_the_hidden_task_window_sends_one_update(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    bundle, sha = named_bundle(bundle_factory, "fleet-hidden.iso")
    # Slow flashes: the update still runs, hidden, when the restarted gateway looks.
    with emulated_rollout(test_keys, bundle, 1, flash_seconds=4.0, reset_seconds=0.15,
                          quirks=[f"task-monitor-404-at-first={HIDDEN_S}"]
                          ) as (emulated, publisher, audit_from):
        (bmc,) = emulated.bmcs
        # The task starts at once, its 202 leaves 30 s later: the kill lands in between.
        emulated.faults.set(bmc.id, "update_answer_slow", seconds=30, count=1)
        config_path = write_gateway_config(
            tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=lambda _n: "all", groups={"all": 1},
            # Pushed: the image is on the BMC before the kill (a SimpleUpdate would pull it
            # from the killed gateway, fail, and be redelivered: another story).
            cluster={"delivery": ["multipart_push"]},
            orchestrator={"lease_s": 3, "hidden_task_grace_s": 60},
            timeouts={"monitor": 120, "verify": 30})
        with one_gateway_campaign(config_path, publisher, bundle, sha) as (
                gateway, campaigns, campaign_id):
            wait_until(lambda: any(t.name == UPDATE_TASK_NAME for t in bmc.tasks.all()), 60)
            gateway.kill()  # the request was taken; its answer never reached the gateway
            (before,) = campaigns.runs(campaign_id)
            gateway.start()
            final, runs = wait_until_finished(campaigns, campaign_id, 120)

        (run,) = runs
        # The kill did land between the request and its answer (what the test is about).
        assert before.step == "deliver" and before.progress.update_intent is not None
        assert before.progress.task is None, before.progress
        assert final.state == "completed", (final.reason, run.step, run.error)
        assert run.step == "done", (run.step, run.error)
        assert run.after_versions == TARGET_VERSIONS
        assert bmc.firmware.installed() == TARGET_VERSIONS
        # One update request reached the BMC, one task, one flash per component.
        assert bmc.counts["update_request"] == 1, bmc.counts
        assert [t.name for t in bmc.tasks.all()].count(UPDATE_TASK_NAME) == 1
        counts = flash_counts(emulated.audit.records()[audit_from:])
        assert len(counts) == 3 and set(counts.values()) == {1}, counts
