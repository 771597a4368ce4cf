"""Campaign, node and wave views rendered from the orchestrator's records (pure).

Waves are shown as executed: the scheduler fills free allowance continuously, so
the dashboard groups started nodes whose update intervals overlap into one wave
(canaries form wave 0) and lists nodes not started yet as the last wave.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from gateway.api.ports import IDLE_STEP, CampaignView, NodeProgress, NodeView, WaveView
from gateway.domain import PATH, Health, NodeSpec, NodeStep, occupies_allowance
from gateway.orchestrator.scheduler import domain_run, exclusion_lines
from gateway.orchestrator.settings import ClusterSettings
from gateway.store import utcnow
from gateway.store.campaign_records import CampaignRecord, ManagedNode, RunRecord


def step_progress(run: RunRecord) -> int:
    """0-100: how far along the update path the node is (a task's percent inside MONITOR)."""
    step = NodeStep(run.step)
    if step in (NodeStep.DONE, NodeStep.SKIPPED, NodeStep.NOT_APPLICABLE):
        return 100
    if step not in PATH:
        return 0
    index = PATH.index(step)
    within = run.progress.percent if step is NodeStep.MONITOR else None
    fraction = min(100, max(0, within)) / 100.0 if within is not None else 0.0
    return min(99, int((index + fraction) * 100 / len(PATH)))


def groups_of(settings: ClusterSettings | None) -> dict[str, str]:
    """node id -> group, for a cluster this gateway runs ({} for one it does not)."""
    if settings is None:
        return {}
    return {n: settings.cluster.group_of(n) for n in settings.cluster.node_ids()}


def node_progress(run: RunRecord, groups: dict[str, str]) -> NodeProgress:
    return NodeProgress(node_id=run.node_id, step=run.step, progress=step_progress(run),
                        attempt=run.attempt, canary=run.canary, held=run.held,
                        method=run.method, error=run.error,
                        group=groups.get(run.node_id, ""), model=run.model or None)


def campaign_view(record: CampaignRecord, runs: list[RunRecord], groups: dict[str, str], *,
                  waves: bool) -> CampaignView:
    """The campaign with its step counts; its waves too when ``waves`` (the detail view)."""
    return CampaignView(
        id=record.id, cluster=record.cluster, image_sha256=record.image_sha256,
        release=record.release, state=record.state, created_at=record.created_at,
        updated_at=record.updated_at, failure_budget=record.failure_budget,
        counts=dict(sorted(Counter(r.step for r in runs).items())),
        waves=executed_waves(runs, groups) if waves else [], reason=record.reason,
        exclusions=exclusion_lines({r.node_id: domain_run(r) for r in runs},
                                   record.unreached))


def executed_waves(runs: list[RunRecord], groups: dict[str, str]) -> list[WaveView]:
    """Canaries (wave 0), then started nodes whose update intervals overlap, then the
    nodes not started yet."""
    canaries = sorted((r for r in runs if r.canary), key=lambda r: r.node_id)
    started = sorted((r for r in runs if not r.canary and r.started_at is not None),
                     key=lambda r: (r.started_at, r.node_id))
    waiting = sorted((r for r in runs if not r.canary and r.started_at is None),
                     key=lambda r: r.node_id)
    waves: list[WaveView] = []
    if canaries:
        waves.append(WaveView(0, True, [node_progress(r, groups) for r in canaries]))

    def close(batch: list[RunRecord]) -> None:
        waves.append(WaveView(len(waves) + (0 if canaries else 1), False,
                              [node_progress(r, groups) for r in batch]))

    now = utcnow()
    batch: list[RunRecord] = []
    batch_end: datetime | None = None
    for run in started:
        assert run.started_at is not None
        if batch and batch_end is not None and run.started_at >= batch_end:
            close(batch)
            batch, batch_end = [], None
        batch.append(run)
        end = run.finished_at or now
        batch_end = end if batch_end is None else max(batch_end, end)
    if batch:
        close(batch)
    if waiting:
        close(waiting)
    return waves


def unavailable(node: str, inventory: dict[str, ManagedNode],
                runs: dict[str, RunRecord]) -> bool:
    """Whether ``node`` counts against its group's allowance right now."""
    seen = inventory.get(node)
    health = Health(seen.health) if seen is not None else Health.UNKNOWN
    run = runs.get(node)
    if run is None:
        return health is not Health.UP
    return occupies_allowance(NodeStep(run.step), health)


def node_view(cluster: str, spec: NodeSpec, settings: ClusterSettings,
              seen: ManagedNode | None, run: RunRecord | None) -> NodeView:
    endpoint = settings.endpoints.get(spec.id)
    return NodeView(
        id=spec.id, cluster=cluster, group=spec.group, qos=spec.qos,
        model=(seen.model or None) if seen else None, serial=(seen.serial or None) if seen
        else None, health=seen.health if seen else "unknown",
        power=(seen.power_state or None) if seen else None,
        versions=_versions(seen, run), step=run.step if run else IDLE_STEP,
        campaign_id=run.campaign_id if run else None,
        error=(run.error if run else None) or ((seen.error or None) if seen else None),
        bmc_url=endpoint.url if endpoint else "",
        versions_source=str(seen.capabilities.get("version_source", "FirmwareInventory"))
        if seen and seen.capabilities else None,
        system=endpoint.system if endpoint else None)


def _versions(seen: ManagedNode | None, run: RunRecord | None) -> dict[str, str]:
    """The last inventory, updated by what a run verified after it (VERIFY reads
    FirmwareInventory, so those versions are as observed as the inventory's)."""
    versions = dict(seen.firmware) if seen else {}
    if run is not None and run.after_versions and run.finished_at is not None and (
            seen is None or run.finished_at >= seen.observed_at):
        versions.update(run.after_versions)
    return versions


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
