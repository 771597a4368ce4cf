"""A campaign's timeline: every node's steps over time, its wave, and each redundancy
group's allowance in use (what the dashboard's Gantt chart and the HTML report draw).

Built from the step history the store keeps (``node_run_steps``). Waves are shown
as executed, like the campaign page: canaries are wave 0, then started nodes whose
update intervals overlap form one wave. The allowance in use counts the nodes the
campaign held (a step of the update path, or FAILED while being made safe); a node
down for other reasons is not part of this history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from gateway.api.ports import (
    GroupUsageView,
    SpanView,
    TimelineNode,
    TimelineView,
    UsagePoint,
)
from gateway.domain import PATH, TERMINAL_STATES, CampaignState, NodeStep
from gateway.store.campaign_records import CampaignRecord, RunRecord, StepSpan

# Steps during which the campaign holds the node (see domain.occupies_allowance).
_HOLDING = frozenset(step.value for step in (*PATH, NodeStep.FAILED))


def wave_numbers(runs: Iterable[RunRecord], now: datetime) -> dict[str, int]:
    """node id -> wave of every started node (canaries 0; the first later wave is 1)."""
    waves = {r.node_id: 0 for r in runs if r.canary}
    started = sorted((r for r in runs if not r.canary and r.started_at is not None),
                     key=lambda r: (r.started_at, r.node_id))
    wave = 0
    batch_end: datetime | None = None
    for run in started:
        assert run.started_at is not None
        if batch_end is None or run.started_at >= batch_end:
            wave += 1
            batch_end = None
        waves[run.node_id] = wave
        end = run.finished_at or now
        batch_end = end if batch_end is None else max(batch_end, end)
    return waves


def _approximate_spans(run: RunRecord) -> list[SpanView]:
    """Spans laid end to end from the per-step seconds (runs without a history)."""
    if run.started_at is None:
        return []
    spans = []
    at = run.started_at
    order = [s.value for s in (*PATH, NodeStep.FAILED)]
    for step in sorted(run.timings, key=lambda s: order.index(s) if s in order else 99):
        end = at + timedelta(seconds=float(run.timings[step]))
        spans.append(SpanView(step, run.attempt, at, end,
                              failed=step == run.progress.failed_in))
        at = end
    return spans


def _spans(history: list[StepSpan]) -> list[SpanView]:
    return [SpanView(s.step, s.attempt, s.started_at, s.ended_at,
                     failed=s.next_step == NodeStep.FAILED.value, detail=s.detail)
            for s in history]


def _usage(intervals: list[tuple[datetime, datetime | None]]
           ) -> tuple[list[UsagePoint], int]:
    """The step function of how many intervals overlap (an open one lasts), and its peak."""
    changes: dict[datetime, int] = {}
    for start, end in intervals:
        if end is not None and end <= start:
            continue
        changes[start] = changes.get(start, 0) + 1
        if end is not None:
            changes[end] = changes.get(end, 0) - 1
    points: list[UsagePoint] = []
    level = peak = 0
    for at in sorted(changes):
        level += changes[at]
        peak = max(peak, level)
        if points and points[-1].in_use == level:
            continue
        points.append(UsagePoint(at, level))
    return points, peak


def _held(spans: list[SpanView]) -> list[tuple[datetime, datetime | None]]:
    """The intervals a node was held (None: still held), adjacent spans merged (a node
    moving from one step to the next holds one slot, not two for an instant)."""
    merged: list[tuple[datetime, datetime | None]] = []
    for span in sorted((s for s in spans if s.step in _HOLDING), key=lambda s: s.started_at):
        last_end = merged[-1][1] if merged else None
        if merged and (last_end is None or span.started_at <= last_end):
            end = None if last_end is None or span.ended_at is None else max(
                last_end, span.ended_at)
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((span.started_at, span.ended_at))
    return merged


def build_timeline(campaign: CampaignRecord, runs: list[RunRecord],
                   history: list[StepSpan], groups: Mapping[str, str],
                   allowances: Mapping[str, int], now: datetime) -> TimelineView:
    """The timeline of `campaign`; `groups`: node id -> group, `allowances`: group ->
    how many of its nodes may be unavailable at once."""
    by_node: dict[str, list[StepSpan]] = {}
    for span in history:
        by_node.setdefault(span.node_id, []).append(span)
    waves = wave_numbers(runs, now)
    nodes: list[TimelineNode] = []
    held: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for run in sorted(runs, key=lambda r: (waves.get(r.node_id, 10**6), r.node_id)):
        recorded = by_node.get(run.node_id, [])
        spans = _spans(recorded) if recorded else _approximate_spans(run)
        group = groups.get(run.node_id, "")
        held.setdefault(group, []).extend(_held(spans))
        nodes.append(TimelineNode(
            node_id=run.node_id, group=group, model=run.model or None, canary=run.canary,
            wave=waves.get(run.node_id), attempt=run.attempt, outcome=run.step,
            error=run.error, spans=spans, approximate=bool(spans) and not recorded))
    usage = []
    for group in sorted(set(groups.values()) | set(held)):
        if not group:
            continue
        points, peak = _usage(held.get(group, []))
        usage.append(GroupUsageView(group, allowances.get(group, 0), points, peak))
    running = CampaignState(campaign.state) not in TERMINAL_STATES
    ends = [s.ended_at for n in nodes for s in n.spans if s.ended_at is not None]
    end = now if running else (campaign.finished_at or max(ends, default=campaign.updated_at))
    return TimelineView(campaign_id=campaign.id, cluster=campaign.cluster,
                        release=campaign.release, state=campaign.state,
                        start=campaign.created_at, end=max(end, campaign.created_at),
                        running=running, nodes=nodes, groups=usage)
