"""What the API needs from the orchestrator, as one typed interface and plain views.

The orchestrator's service layer is adapted to `Operations` in exactly one
place (`gateway.api.orchestration`); views and the dashboard only ever see the
dataclasses below, so the API's JSON shape is defined here and nowhere else.
Passwords are not part of any view: a BMC view says whether credentials are
set, never what they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

# A node's `step` in the API when no campaign includes it (every other value is a
# gateway.domain.NodeStep).
IDLE_STEP = "idle"


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


class View:
    """Mixin: `to_json()` renders the dataclass with ISO-8601 datetimes."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)  # type: ignore[call-overload]
        result = _json(data)
        assert isinstance(result, dict)
        return result


@dataclass(frozen=True)
class GroupView(View):
    """A redundancy group: `allowance` nodes may be unavailable at once; `unavailable` now."""

    name: str
    allowance: int
    unavailable: int
    nodes: list[str]


@dataclass(frozen=True)
class ClusterView(View):
    name: str
    autonomy: str  # auto_approve | require_approval
    failure_budget: int
    max_concurrent: int | None
    groups: list[GroupView]


@dataclass(frozen=True)
class NodeView(View):
    """A managed node as last inventoried. `step` is its step in the newest campaign
    that includes it (or "idle"); versions map component id to version string."""

    id: str
    cluster: str
    group: str
    qos: str
    model: str | None
    serial: str | None
    health: str  # up | down | unknown
    power: str | None
    versions: dict[str, str]
    step: str
    campaign_id: str | None
    error: str | None
    bmc_url: str
    # Where `versions` were read: "FirmwareInventory", or the fallback sentence of a BMC
    # without one (which properties, what each said); None before any inventory.
    versions_source: str | None = None
    system: str | None = None  # the ComputerSystem chosen behind a multi-system root


@dataclass(frozen=True)
class NodeProgress(View):
    """One node inside a campaign: its current step, 0-100 progress and failure reason."""

    node_id: str
    step: str
    progress: int
    attempt: int
    canary: bool
    held: bool
    method: str | None
    error: str | None
    group: str = ""
    model: str | None = None


@dataclass(frozen=True)
class WaveView(View):
    index: int  # 0 is the canary phase when `canary`
    canary: bool
    nodes: list[NodeProgress]


@dataclass(frozen=True)
class CampaignView(View):
    """A campaign with its waves; `counts` is {step: number of nodes}; `exclusions`: one
    line per reason nodes could not be covered (count and first node's detail)."""

    id: str
    cluster: str
    image_sha256: str
    release: str
    state: str
    created_at: datetime
    updated_at: datetime
    failure_budget: int
    counts: dict[str, int]
    waves: list[WaveView] = field(default_factory=list)
    reason: str = ""
    exclusions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NodeReportView(View):
    """Per-node outcome of a campaign: versions before and after, method, timings (s)."""

    node_id: str
    outcome: str
    method: str | None
    versions_before: dict[str, str]
    versions_after: dict[str, str]
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    error: str | None


@dataclass(frozen=True)
class SpanView(View):
    """One step of one node: `ended_at` None while it lasts; `failed` when the node
    failed in it (`detail` says why)."""

    step: str
    attempt: int
    started_at: datetime
    ended_at: datetime | None
    failed: bool = False
    detail: str | None = None


@dataclass(frozen=True)
class TimelineNode(View):
    """A node's row of the timeline. `wave` 0 is the canary wave; `wave` None: not
    started yet. `outcome` is the run's step now; `approximate`: laid out from the
    per-step seconds of a run recorded before step times were kept."""

    node_id: str
    group: str
    model: str | None
    canary: bool
    wave: int | None
    attempt: int
    outcome: str
    error: str | None
    spans: list[SpanView]
    approximate: bool = False


@dataclass(frozen=True)
class UsagePoint(View):
    at: datetime
    in_use: int


@dataclass(frozen=True)
class GroupUsageView(View):
    """How many of a redundancy group's nodes the campaign held (in an update step or
    being made safe) over time: `in_use` from `at` until the next point."""

    group: str
    allowance: int
    usage: list[UsagePoint]
    peak: int


@dataclass(frozen=True)
class TimelineView(View):
    """A campaign as a Gantt chart: from `start` to `end` (`now` while it runs)."""

    campaign_id: str
    cluster: str
    release: str
    state: str
    start: datetime
    end: datetime
    running: bool
    nodes: list[TimelineNode]
    groups: list[GroupUsageView]


@dataclass(frozen=True)
class ComplianceRow(View):
    """A node against the newest verified image that applies to it."""

    node_id: str
    cluster: str
    model: str | None
    compliant: bool
    image_sha256: str | None
    release: str | None
    behind: dict[str, list[str]]  # component -> [installed, available]
    status: str  # compliant | outdated | not_applicable | unknown


@dataclass(frozen=True)
class BmcView(View):
    """A registered BMC. `credentials_set` only: passwords never leave the gateway."""

    id: str
    url: str
    username: str
    credentials_set: bool
    tls: str
    cluster: str
    group: str
    qos: str
    system: str | None = None  # the ComputerSystem managed behind a multi-system root


@dataclass(frozen=True)
class BmcRegistration:
    """An admin's request to register (or re-register) a BMC as a node of a cluster."""

    id: str
    url: str
    username: str
    password: str = field(repr=False)
    cluster: str
    group: str
    qos: str = "default"
    tls: str = "verify"  # verify | pin | insecure
    fingerprint: str | None = None
    system: str | None = None  # id or path of the system, on a root serving several


class Operations(Protocol):
    """The orchestrator, as the API sees it. Unknown ids raise store NotFoundError;
    actions illegal in the current state raise domain IllegalTransitionError."""

    def list_clusters(self) -> list[ClusterView]: ...

    def list_nodes(self, cluster: str | None = None) -> list[NodeView]: ...

    def get_node(self, node_id: str) -> NodeView: ...

    def list_campaigns(self, state: str | None = None) -> list[CampaignView]: ...

    def get_campaign(self, campaign_id: str) -> CampaignView: ...

    def start_campaign(self, image_sha256: str, cluster: str, actor: str,
                       allow_downgrade: bool = False) -> CampaignView:
        """`allow_downgrade`: older versions apply too, if the cluster's or the image
        source's policy allows it (ConflictError naming the policy otherwise)."""
        ...

    def campaign_action(self, campaign_id: str, action: str, actor: str) -> CampaignView:
        """`action` is approve, pause, resume or abort."""
        ...

    def node_action(self, campaign_id: str, node_id: str, action: str,
                    actor: str) -> NodeProgress:
        """`action` is retry or clear."""
        ...

    def campaign_report(self, campaign_id: str) -> list[NodeReportView]: ...

    def campaign_timeline(self, campaign_id: str) -> TimelineView: ...

    def compliance(self, cluster: str | None = None) -> list[ComplianceRow]: ...

    def list_bmcs(self) -> list[BmcView]: ...

    def register_bmc(self, registration: BmcRegistration, actor: str) -> BmcView: ...

    def campaign_counts(self) -> dict[str, int]: ...

    def node_counts(self) -> dict[str, int]: ...
