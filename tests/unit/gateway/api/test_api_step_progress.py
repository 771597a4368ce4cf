"""A node's 0-100 progress in the API: its place on the update path and, inside MONITOR,
the percent the BMC's task reports (kept in the run's progress)."""

from __future__ import annotations

from gateway.api.campaign_views import step_progress
from gateway.domain import PATH, NodeStep, RunProgress
from gateway.store import utcnow
from gateway.store.campaign_records import RunRecord


def _run(step: NodeStep, progress: RunProgress | None = None) -> RunRecord:
    return RunRecord(
        campaign_id="c1", node_id="n1", step=step.value, attempt=1, canary=False, held=False,
        error=None, model="FF", method="simple_update", packages=(), before_versions={},
        target_versions={}, after_versions={}, progress=progress or RunProgress(), timings={},
        lease_owner=None, lease_expires=None, next_action_at=None, step_started_at=None,
        started_at=None, finished_at=None, updated_at=utcnow())


def test_monitor_moves_with_the_percent_the_bmc_task_reports() -> None:
    start = PATH.index(NodeStep.MONITOR) * 100 // len(PATH)
    assert step_progress(_run(NodeStep.MONITOR)) == start
    halfway = step_progress(_run(NodeStep.MONITOR, RunProgress(percent=50)))
    assert start < halfway < step_progress(_run(NodeStep.RESET))
    assert step_progress(_run(NodeStep.MONITOR, RunProgress(percent=250))) \
        == step_progress(_run(NodeStep.RESET))  # a BMC's nonsense stays inside the step


def test_finished_and_unstarted_runs() -> None:
    assert step_progress(_run(NodeStep.DONE)) == 100
    assert step_progress(_run(NodeStep.PENDING)) == 0
