"""Step spans: the time each node run spent in each step (table ``node_run_steps``),
written in the same transaction as the step change itself, for the campaign timeline."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from gateway.domain import NodeStep
from gateway.store.campaign_tables import NodeRunRow, StepSpanRow

_RUNS: sa.Table = NodeRunRow.__table__  # type: ignore[assignment]  # a declarative Table
SPANS: sa.Table = StepSpanRow.__table__  # type: ignore[assignment]
# Steps a run rests in rather than spends time in: no span is opened for them.
RESTING_STEPS = frozenset(step.value for step in (
    NodeStep.PENDING, NodeStep.DONE, NodeStep.SKIPPED, NodeStep.QUARANTINED, NodeStep.PARTIAL,
    NodeStep.NOT_APPLICABLE))


def record_step(connection: sa.Connection, campaign_id: str, node_id: str, step: str,
                at: datetime, error: str | None) -> None:
    """Close the run's open span (the step it left) and open one for `step` unless the
    run rests there. Runs in the transaction of the step change itself."""
    connection.execute(sa.update(SPANS).where(
        SPANS.c.campaign_id == campaign_id, SPANS.c.node_id == node_id,
        SPANS.c.ended_at.is_(None),
    ).values(ended_at=at, next_step=step, detail=error if step == NodeStep.FAILED else None))
    if step in RESTING_STEPS:
        return
    attempt = connection.execute(sa.select(_RUNS.c.attempt).where(
        _RUNS.c.campaign_id == campaign_id, _RUNS.c.node_id == node_id)).scalar()
    connection.execute(sa.insert(SPANS).values(
        campaign_id=campaign_id, node_id=node_id, attempt=attempt or 1, step=step,
        started_at=at, ended_at=None, next_step=None,
        detail=error if step == NodeStep.FAILED else None))
