"""Plain records of the orchestrator tables (never live ORM rows).

Steps and states are kept as the strings of gateway.domain's enums (the
orchestrator converts them); a run's progress is the domain's typed RunProgress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.domain.run_progress import RunProgress


@dataclass(frozen=True)
class NewCampaign:
    """What the orchestrator decides when it creates a campaign. ``generation``: the
    how-manyth campaign of this image on this cluster; ``unreached``: node id -> why
    its BMC could not be inventoried (those nodes get no run); ``allow_downgrade``: it may
    install versions older than a node's (a rollback allowed by policy)."""

    id: str
    cluster: str
    image_sha256: str
    bundle_id: str
    release: str
    state: str
    failure_budget: int
    canaries: tuple[str, ...]
    planned_waves: int = 0
    lower_bound: int = 0
    reason: str = ""
    generation: int = 1
    unreached: dict[str, str] = field(default_factory=dict)
    allow_downgrade: bool = False


@dataclass(frozen=True, kw_only=True)
class CampaignRecord(NewCampaign):
    """One stored campaign (see `campaigns` table): what was created, plus its times."""

    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class NewRun:
    """A node's initial run in a new campaign."""

    node_id: str
    step: str
    canary: bool = False
    held: bool = False
    error: str | None = None
    model: str = ""
    packages: tuple[str, ...] = ()
    before_versions: dict[str, str] = field(default_factory=dict)
    target_versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """One stored node run (see `node_runs` table). Times are aware UTC datetimes."""

    campaign_id: str
    node_id: str
    step: str
    attempt: int
    canary: bool
    held: bool
    error: str | None
    model: str
    method: str | None
    packages: tuple[str, ...]
    before_versions: dict[str, str]
    target_versions: dict[str, str]
    after_versions: dict[str, str]
    progress: RunProgress  # crash-safety markers (stored by gateway.store.run_progress)
    timings: dict[str, float]
    lease_owner: str | None
    lease_expires: datetime | None
    next_action_at: datetime | None
    step_started_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    fence: int = 0  # fencing counter at the time it was read (see NodeRunRow.fence)


@dataclass(frozen=True)
class StepSpan:
    """One step a run spent time in (see `node_run_steps`); `ended_at` None while it
    lasts; `next_step` is the step it went to (``failed``: it failed, `detail` says why)."""

    node_id: str
    attempt: int
    step: str
    started_at: datetime
    ended_at: datetime | None
    next_step: str | None
    detail: str | None


@dataclass(frozen=True)
class ManagedNode:
    """The last inventory of one registered BMC.

    health: a gateway.domain.Health value; firmware: component -> version;
    capabilities: the UpdateCapabilities fields as JSON-friendly values;
    error: why the last inventory failed ("" when it worked).
    """

    node_id: str
    cluster: str
    model: str
    serial: str
    health: str
    power_state: str
    firmware: dict[str, str]
    capabilities: dict[str, Any]
    error: str
    observed_at: datetime
