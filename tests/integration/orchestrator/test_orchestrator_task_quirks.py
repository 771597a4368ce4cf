"""The gateway updates nodes whose BMCs shape and word their tasks as real ones do
(docs/interop.md, "Vendor quirks"), by every delivery method the quirk concerns: each
node ends done with its versions read back, each component written exactly once, and
the BMC shows the gateway followed what it said to the end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.bmc import Bmc
from emulator.redfish.update_quirks import push_settings
from emulator.tasks import Task
from tests.integration.orchestrator.conftest import Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL, flash_counts

NODES = 2
TASK_METHODS = ("simple_update", "multipart_push")
COMPONENTS = tuple(sorted(TARGET_VERSIONS))


def _campaign(rig: Rollout, ends: str) -> str:
    """Announce the image; the campaign's id once it ended ``ends``."""
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, ends, timeout=120) == ends, \
        rig.service.report(campaign_id).to_json()
    return campaign_id


def _all_done(rig: Rollout) -> Any:
    """The report of a campaign that completed with every node done."""
    report = rig.service.report(_campaign(rig, "completed"))
    assert report.outcomes == {"done": NODES}, [
        (n.node_id, n.outcome, n.error) for n in report.nodes]
    return report


def _update_all(rig: Rollout) -> None:
    """The campaign completes with every node done and verified, and the audit log
    shows one write per component per node."""
    report = _all_done(rig)
    for node in report.nodes:
        assert node.after_versions == TARGET_VERSIONS, node.node_id
    for bmc in rig.emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS, bmc.id
    assert flash_counts(rig.audit()) == {
        (bmc.id, component): 1 for bmc in rig.emulated.bmcs for component in COMPONENTS}


def _updated(rollout: RolloutFactory, method: str, quirk: str) -> Rollout:
    """Every node (each BMC with ``quirk``) updated by ``method`` (see _update_all)."""
    rig = rollout(models=[TEST_MODEL] * NODES, cluster={"delivery": [method]},
                  quirks=[quirk])
    _update_all(rig)
    return rig


def _updates(bmc: Bmc) -> list[Task]:
    return [t for t in bmc.tasks.all() if t.name == "Firmware update"]


@pytest.mark.parametrize("method", TASK_METHODS)
@pytest.mark.parametrize("quirk", ["task-location-only", "task-in-body-only",
                                   "task-empty-202"])
def test_every_shape_of_202_is_followed(rollout: RolloutFactory, quirk: str,
                                       method: str) -> None:
    rig = _updated(rollout, method, quirk)
    for bmc in rig.emulated.bmcs:
        # The gateway read each task to its end, wherever the 202 put it.
        assert all(t.wait_seen_finished(0) for t in _updates(bmc)), bmc.id


@pytest.mark.parametrize("method", TASK_METHODS)
def test_new_and_starting_count_as_running(rollout: RolloutFactory, method: str) -> None:
    rig = _updated(rollout, method, "task-new-until-polled")
    for bmc in rig.emulated.bmcs:
        for task in _updates(bmc):
            # Every New and Starting answer was read, and the task to its end after them.
            assert task.early_states == [] and task.wait_seen_finished(0), bmc.id


@pytest.mark.parametrize("method", TASK_METHODS)
def test_a_monitor_that_404s_at_first_is_waited_for(rollout: RolloutFactory,
                                                    method: str) -> None:
    rig = _updated(rollout, method, "task-monitor-404-at-first=2")
    for bmc in rig.emulated.bmcs:
        # Not taken as gone: the gateway went on reading it to its end.
        assert all(t.wait_seen_finished(0) for t in _updates(bmc)), bmc.id


@pytest.mark.parametrize("method", (*TASK_METHODS, "msc"))
def test_tasks_lost_in_the_bmc_restart_leave_the_verdict_to_versions(
        rollout: RolloutFactory, method: str) -> None:
    rig = _updated(rollout, method, "task-lost-on-bmc-restart")
    for bmc in rig.emulated.bmcs:
        assert [r for r in rig.audit() if r["bmc"] == bmc.id and r["event"] == "bmc_restart"]
        assert bmc.tasks.all() == [], bmc.id  # nothing left to follow after the restart


@pytest.mark.parametrize("method", TASK_METHODS)
def test_an_update_moved_to_a_job_is_followed_in_the_job(rollout: RolloutFactory,
                                                         method: str) -> None:
    rig = _updated(rollout, method, "job-instead-of-task")
    for bmc in rig.emulated.bmcs:
        (task,) = _updates(bmc)
        (job,) = bmc.jobs.all()
        assert task.finished and job.finished
        assert any(m["MessageId"].endswith("OperationTransitionedToJob") for m in task.messages)
        assert job.wait_seen_finished(0), bmc.id  # read to its end: the Job was followed


@pytest.mark.parametrize("method", TASK_METHODS)
def test_a_staged_image_stopping_is_staged_not_failed(rollout: RolloutFactory,
                                                      bundle_factory: object,
                                                      method: str) -> None:
    _stage_then_update(_staged_rig(rollout, method, "task-stopping-while-staged"))


def test_staging_through_http_push_uri(rollout: RolloutFactory) -> None:
    """A BMC with only HttpPushUri stages too: the apply time OnReset is set in its
    HttpPushUriOptions before the push, and put back after (docs/interop.md,
    "http-push-only")."""
    rig = _staged_rig(rollout, "multipart_push", "http-push-only")
    _stage_then_update(rig)
    for bmc in rig.emulated.bmcs:
        assert push_settings(bmc).apply_time == "Immediate", bmc.id


def _staged_rig(rollout: RolloutFactory, method: str, quirk: str) -> Rollout:
    """A staged cluster of BMCs with ``quirk``, its window open now, BMCs already at
    target (so BIOS can be staged at once)."""
    now = datetime.now(UTC)
    rig = rollout(models=[TEST_MODEL] * NODES, groups={"all": 1},
                  cluster={"delivery": [method], "activation": "staged"},
                  quirks=[quirk], orchestrator={"expected_reset_s": 60},
                  qos_classes=[{"name": "now", "order": 0, "windows": [
                      {"days": [now.weekday()], "start": now.strftime("%H:%M"),
                       "hours": 0.5}]}],
                  qos_of=lambda _node: "now")
    for bmc in rig.emulated.bmcs:
        bmc.firmware.install("BMC", TARGET_VERSIONS["BMC"])
    return rig


def _stage_then_update(rig: Rollout) -> None:
    _all_done(rig)
    audit = rig.audit()
    for bmc in rig.emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS, bmc.id
        staging = [t for t in _updates(bmc) if '"OnReset"' in str((t.payload or {}).get(
            "JsonBody"))]
        assert staging, bmc.id
        # It said Stopping until the host reset, which the gateway made, then Completed.
        assert all(t.state.value == "Completed" for t in staging), bmc.id
        activated = [r for r in audit if r["bmc"] == bmc.id and r["event"] == "flash_end"
                     and r["component"] == "BIOS"]
        assert [r.get("activated_by") for r in activated] == ["host_reset"], bmc.id
    assert flash_counts(audit) == {
        (bmc.id, component): 1 for bmc in rig.emulated.bmcs for component in ("BIOS", "NIC")}


def test_a_monitor_that_never_answers_is_named_when_monitor_times_out(
        rollout: RolloutFactory) -> None:
    """The wait for a 404 monitor has MONITOR's deadline; the report says what the BMC
    did (its monitor never answered), and the versions read back decide where the node
    rests: never done."""
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"delivery": ["simple_update"]}, timeouts={"monitor": 3},
                  quirks=["task-monitor-404-at-first=600"])
    campaign_id = _campaign(rig, "failed")
    error = rig.quarantined_canary(campaign_id).error or ""
    assert error.startswith("monitor timed out after 3 s"), error
    assert "the BMC's task monitor /redfish/v1/TaskService/TaskMonitors/1 never answered " \
        "(404)" in error, error
    assert "versions read back" in error or "partial" in error, error
    report = rig.service.report(campaign_id)
    assert "done" not in report.outcomes, report.to_json()
