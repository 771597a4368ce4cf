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




def _statements(at: sa.ColumnElement[datetime]) -> tuple[sa.Update, sa.Insert]:
    """Close the open span, and open the next one at the run's attempt (read in the same
    statement), both at `at`."""
    close = sa.update(SPANS).where(
        SPANS.c.campaign_id == sa.bindparam("k_campaign"),
        SPANS.c.node_id == sa.bindparam("k_node"), SPANS.c.ended_at.is_(None),
    ).values(ended_at=at, next_step=sa.bindparam("b_next", type_=SPANS.c.next_step.type),
             detail=sa.bindparam("b_detail", type_=SPANS.c.detail.type))
    open_ = sa.insert(SPANS).from_select(
        ["campaign_id", "node_id", "attempt", "step", "started_at", "detail"],
        sa.select(sa.bindparam("campaign", type_=SPANS.c.campaign_id.type),
                  sa.bindparam("node", type_=SPANS.c.node_id.type),
                  sa.func.coalesce(_RUNS.c.attempt, 1),
                  sa.bindparam("new_step", type_=SPANS.c.step.type), at,
                  sa.bindparam("b_detail2", type_=SPANS.c.detail.type),
                  ).where(_RUNS.c.campaign_id == sa.bindparam("k_campaign"),
                          _RUNS.c.node_id == sa.bindparam("k_node")))
    return close, open_


# Built once for a time given as a value (a step change of every node writes a span).
_AT_VALUE = _statements(sa.bindparam("b_at", type_=SPANS.c.started_at.type))


def record_step(connection: sa.Connection, campaign_id: str, node_id: str, step: str,
                at: datetime | sa.ColumnElement[datetime], error: str | None,
                left: str | None = None) -> None:
    """Close the run's open span (the step it `left`) and open one for `step` unless the
    run rests there; `at` may be the database's clock (an SQL expression). Runs in the
    transaction of the step change itself. A run that `left` a resting step has no open
    span (every step change writes its spans here), so there is none to close."""
    close, open_ = _AT_VALUE if isinstance(at, datetime) else _statements(at)
    detail = error if step == NodeStep.FAILED else None
    params = {"k_campaign": campaign_id, "k_node": node_id, "b_at": at, "b_next": step,
              "b_detail": detail, "campaign": campaign_id, "node": node_id,
              "new_step": step, "b_detail2": detail}
    if left not in RESTING_STEPS:
        connection.execute(close, params)
    if step not in RESTING_STEPS:
        connection.execute(open_, params)
