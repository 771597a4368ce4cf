"""The orchestrator's service layer adapted to the API's `Operations` interface.

The only module of gateway.api that knows gateway.orchestrator. Waves are
shown as executed: the scheduler fills free allowance continuously, so the
dashboard groups started nodes whose update intervals overlap into one wave
(canaries form wave 0) and lists nodes not started yet as the last wave.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

from gateway.api.ports import (
    IDLE_STEP,
    BmcRegistration,
    BmcView,
    CampaignView,
    ClusterView,
    ComplianceRow,
    GroupView,
    NodeProgress,
    NodeReportView,
    NodeView,
    TimelineView,
    WaveView,
)
from gateway.api.timeline import build_timeline
from gateway.domain import (
    PATH,
    TERMINAL_STATES,
    CampaignState,
    Cluster,
    Health,
    IllegalTransitionError,
    NodeSpec,
    NodeStep,
    occupies_allowance,
)
from gateway.orchestrator.creator import CampaignCreator
from gateway.orchestrator.scheduler import domain_run, exclusion_lines
from gateway.orchestrator.service import CampaignService
from gateway.orchestrator.settings import ClusterSettings
from gateway.redfish import BmcEndpoint
from gateway.redfish.endpoint import TlsMode
from gateway.redfish.errors import ConfigurationError
from gateway.store import ImageState, NotFoundError, utcnow
from gateway.store.campaign_records import CampaignRecord, ManagedNode, RunRecord

_ACTIONS = ("approve", "pause", "resume", "abort")


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


class OrchestratorOperations:
    """Operations over a CampaignService and the clusters the orchestrator runs.

    `clusters` is the orchestrator's own name -> ClusterSettings dict: a BMC
    registered through the API is added to it, so the scheduler and the
    campaign creator see the new node at once, and `persist` keeps it in the BMC
    registry for the next start.
    """

    def __init__(self, service: CampaignService, clusters: dict[str, ClusterSettings],
                 creator: CampaignCreator | None = None,
                 downgrade_sources: frozenset[str] = frozenset(),
                 persist: Callable[[BmcRegistration], None] | None = None) -> None:
        self.service = service
        self.clusters = clusters
        self._creator = creator
        self._downgrade_sources = downgrade_sources  # sources with allow_downgrade = true
        # Keeps an API registration across restarts (gateway/api/registry_api.py);
        # raises an ApiError when the registry refuses it.
        self._persist = persist
        self._lock = threading.Lock()

    # -- clusters and nodes ------------------------------------------------------------

    def _latest_runs(self) -> dict[str, RunRecord]:
        latest: dict[str, RunRecord] = {}
        for campaign in self.service.list_campaigns():  # oldest first: newer ones win
            for run in self.service.store.runs(campaign.id):
                latest[run.node_id] = run
        return latest

    def list_clusters(self) -> list[ClusterView]:
        inventory = {n.node_id: n for n in self.service.nodes()}
        runs = self._latest_runs()
        views = []
        for name, settings in sorted(self.clusters.items()):
            cluster = settings.cluster
            groups = []
            for group in cluster.group_names():
                members = cluster.members(group)
                down = sum(1 for node in members if _unavailable(node, inventory, runs))
                groups.append(GroupView(group, cluster.allowance(group), down, list(members)))
            views.append(ClusterView(name, cluster.autonomy.value, cluster.failure_budget,
                                     cluster.max_concurrent, groups))
        return views

    def list_nodes(self, cluster: str | None = None) -> list[NodeView]:
        inventory = {n.node_id: n for n in self.service.nodes()}
        runs = self._latest_runs()
        views = []
        for name, settings in sorted(self.clusters.items()):
            if cluster is not None and name != cluster:
                continue
            for node_id in settings.cluster.node_ids():
                spec = settings.cluster.node(node_id)
                views.append(_node_view(name, spec, settings, inventory.get(node_id),
                                        runs.get(node_id)))
        return views

    def get_node(self, node_id: str) -> NodeView:
        for view in self.list_nodes():
            if view.id == node_id:
                return view
        raise NotFoundError(f"no node {node_id!r}")

    # -- campaigns ---------------------------------------------------------------------

    def list_campaigns(self, state: str | None = None) -> list[CampaignView]:
        records = self.service.list_campaigns(state=state)
        return [self._campaign(r, self.service.store.runs(r.id), waves=False)
                for r in reversed(records)]

    def get_campaign(self, campaign_id: str) -> CampaignView:
        detail = self.service.show(campaign_id)
        return self._campaign(detail.campaign, list(detail.runs), waves=True)

    def start_campaign(self, image_sha256: str, cluster: str, actor: str,
                       allow_downgrade: bool = False) -> CampaignView:
        settings = self.clusters.get(cluster)
        if settings is None:
            raise NotFoundError(f"no cluster {cluster!r}")
        image = self.service.images.get_image(image_sha256)
        if (staged := settings.staged_refusal()) is not None:
            from gateway.api.errors import ConflictError

            raise ConflictError(staged)
        if allow_downgrade and not (settings.allow_downgrade
                                    or image.source in self._downgrade_sources):
            from gateway.api.errors import ConflictError

            raise ConflictError(
                f"downgrades are not allowed on cluster {cluster!r}: its policy "
                f"allow_downgrade is false (the default), and so is source "
                f"{image.source!r}'s; set allow_downgrade = true in the [[clusters]] entry "
                f"of {cluster!r} or the [[sources]] entry of {image.source!r}")
        if image.state is not ImageState.VERIFIED:
            raise IllegalTransitionError("image", image_sha256[:16], image.state.value,
                                         "campaign", "only a verified image can be rolled out")
        existing = self.service.store.find_campaign(image_sha256, cluster)
        generation = 1
        if existing is not None:
            if CampaignState(existing.state) not in TERMINAL_STATES:
                raise IllegalTransitionError(
                    "campaign", existing.id, existing.state, "start",
                    "this image already has an open campaign on this cluster")
            generation = existing.generation + 1  # a retry, once the last one ended
        if self._creator is None:
            raise IllegalTransitionError("campaign", cluster, "none", "start",
                                         "this gateway does not create campaigns")
        created = self._creator.create(image, settings, generation, allow_downgrade)
        if created is None:
            raise IllegalTransitionError("campaign", cluster, "none", "start",
                                         "another gateway created it first, or the image's "
                                         "manifest is unusable")
        return self.get_campaign(created)

    def campaign_action(self, campaign_id: str, action: str, actor: str) -> CampaignView:
        if action not in _ACTIONS:
            raise ValueError(f"unknown campaign action {action!r}")
        getattr(self.service, action)(campaign_id)
        return self.get_campaign(campaign_id)

    def node_action(self, campaign_id: str, node_id: str, action: str,
                    actor: str) -> NodeProgress:
        self.service.store.run(campaign_id, node_id)  # 404 before anything else
        if action == "retry":
            run = self.service.retry_node(campaign_id, node_id)
        elif action == "clear":
            run = self.service.clear_node(campaign_id, node_id)
        else:
            raise ValueError(f"unknown node action {action!r}")
        return self._progress(run, self._group_of(self.service.store.get_campaign(
            campaign_id).cluster))

    def campaign_report(self, campaign_id: str) -> list[NodeReportView]:
        report = self.service.report(campaign_id)
        return [NodeReportView(
            node_id=n.node_id, outcome=n.outcome, method=n.method,
            versions_before=n.before_versions, versions_after=n.after_versions,
            started_at=_parse(n.started_at), finished_at=_parse(n.finished_at),
            duration_s=n.duration_s, error=n.error) for n in report.nodes]

    def campaign_timeline(self, campaign_id: str) -> TimelineView:
        campaign = self.service.store.get_campaign(campaign_id)
        groups = self._group_of(campaign.cluster)
        settings = self.clusters.get(campaign.cluster)
        allowances = ({g: settings.cluster.allowance(g) for g in settings.cluster.group_names()}
                      if settings is not None else {})
        return build_timeline(campaign, self.service.store.runs(campaign_id),
                              self.service.store.step_spans(campaign_id), groups,
                              allowances, utcnow())

    def compliance(self, cluster: str | None = None) -> list[ComplianceRow]:
        rows = []
        for name in sorted(self.clusters):
            if cluster is not None and name != cluster:
                continue
            report = self.service.compliance(name)
            for node in report.nodes:
                behind = {c: [node.installed.get(c, "absent"), v]
                          for c, v in sorted(node.outdated.items())}
                rows.append(ComplianceRow(
                    node_id=node.node_id, cluster=name, model=node.model or None,
                    compliant=node.status == "compliant", image_sha256=report.image_sha256,
                    release=report.release, behind=behind, status=node.status))
        if cluster is not None and cluster not in self.clusters:
            raise NotFoundError(f"no cluster {cluster!r}")
        return rows

    # -- BMCs ----------------------------------------------------------------------------

    def list_bmcs(self) -> list[BmcView]:
        views = []
        for name, settings in sorted(self.clusters.items()):
            for node_id, endpoint in sorted(settings.endpoints.items()):
                spec = settings.cluster.node(node_id) if settings.cluster.has_node(
                    node_id) else NodeSpec(node_id, "?")
                views.append(BmcView(node_id, endpoint.url, endpoint.username,
                                     bool(endpoint.password), endpoint.tls.value, name,
                                     spec.group, spec.qos, endpoint.system))
        return views

    def register_bmc(self, registration: BmcRegistration, actor: str) -> BmcView:
        with self._lock:
            settings = self.clusters.get(registration.cluster)
            if settings is None:
                raise NotFoundError(f"no cluster {registration.cluster!r}")
            for other_name, other in self.clusters.items():
                if other_name != registration.cluster and registration.id in other.endpoints:
                    raise IllegalTransitionError("bmc", registration.id, other_name, "register",
                                                 "already registered in another cluster")
            try:
                endpoint = BmcEndpoint(
                    name=registration.id, url=registration.url, username=registration.username,
                    password=registration.password, tls=TlsMode(registration.tls),
                    fingerprint=registration.fingerprint, system=registration.system)
            except ConfigurationError as exc:
                from gateway.api.errors import BadRequestError

                raise BadRequestError(str(exc), field="url") from exc
            self._refuse_duplicate(endpoint)
            old = settings.cluster
            nodes = tuple(n for n in old.nodes if n.id != registration.id) + (
                NodeSpec(registration.id, registration.group, registration.qos),)
            cluster = Cluster(old.name, old.groups, nodes, old.qos_classes, old.failure_budget,
                              old.autonomy, old.max_concurrent)  # InvalidClusterError -> 400
            if self._persist is not None:
                self._persist(registration)
            self.clusters[registration.cluster] = dataclasses.replace(
                settings, cluster=cluster, endpoints={**settings.endpoints,
                                                      registration.id: endpoint})
        return BmcView(registration.id, endpoint.url, endpoint.username, True,
                       endpoint.tls.value, registration.cluster, registration.group,
                       registration.qos, endpoint.system)

    def _refuse_duplicate(self, endpoint: BmcEndpoint) -> None:
        """ConflictError when another node already manages the same BMC and system."""
        for settings in self.clusters.values():
            for node_id, other in settings.endpoints.items():
                if node_id != endpoint.name and other.service == endpoint.service:
                    from gateway.api.errors import ConflictError

                    system = f", system {endpoint.system!r}" if endpoint.system else ""
                    raise ConflictError(
                        f"BMC {endpoint.url}{system} is already registered as node "
                        f"{node_id!r} (cluster {settings.name!r})")

    # -- metrics -------------------------------------------------------------------------

    def campaign_counts(self) -> dict[str, int]:
        """Campaigns per state, every state listed (0 included) so alerts can match it."""
        counts = Counter(c.state for c in self.service.list_campaigns())
        return {state.value: counts.get(state.value, 0) for state in CampaignState} | counts

    def node_counts(self) -> dict[str, int]:
        """Nodes per step of their newest run, every step listed (0 included)."""
        counts = Counter(run.step for run in self._latest_runs().values())
        return {step.value: counts.get(step.value, 0) for step in NodeStep} | counts

    def step_durations(self) -> Iterator[tuple[str, str, float]]:
        """(step, delivery method, seconds) for every step every node run has left."""
        for campaign in self.service.list_campaigns():
            for run in self.service.store.runs(campaign.id):
                for step, seconds in run.timings.items():
                    yield step, run.method or "", float(seconds)

    # -- rendering -----------------------------------------------------------------------

    def _group_of(self, cluster: str) -> dict[str, str]:
        settings = self.clusters.get(cluster)
        if settings is None:
            return {}
        return {n: settings.cluster.group_of(n) for n in settings.cluster.node_ids()}

    def _progress(self, run: RunRecord, groups: dict[str, str]) -> NodeProgress:
        return NodeProgress(node_id=run.node_id, step=run.step, progress=step_progress(run),
                            attempt=run.attempt, canary=run.canary, held=run.held,
                            method=run.method, error=run.error,
                            group=groups.get(run.node_id, ""), model=run.model or None)

    def _campaign(self, record: CampaignRecord, runs: list[RunRecord], *,
                  waves: bool) -> CampaignView:
        groups = self._group_of(record.cluster)
        return CampaignView(
            id=record.id, cluster=record.cluster, image_sha256=record.image_sha256,
            release=record.release, state=record.state, created_at=record.created_at,
            updated_at=record.updated_at, failure_budget=record.failure_budget,
            counts=dict(sorted(Counter(r.step for r in runs).items())),
            waves=self._waves(runs, groups) if waves else [], reason=record.reason,
            exclusions=exclusion_lines({r.node_id: domain_run(r) for r in runs},
                                       record.unreached))

    def _waves(self, runs: list[RunRecord], groups: dict[str, str]) -> list[WaveView]:
        canaries = sorted((r for r in runs if r.canary), key=lambda r: r.node_id)
        started = sorted((r for r in runs if not r.canary and r.started_at is not None),
                         key=lambda r: (r.started_at, r.node_id))
        waiting = sorted((r for r in runs if not r.canary and r.started_at is None),
                         key=lambda r: r.node_id)
        waves: list[WaveView] = []
        if canaries:
            waves.append(WaveView(0, True, [self._progress(r, groups) for r in canaries]))
        now = utcnow()
        batch: list[RunRecord] = []
        batch_end: datetime | None = None
        for run in started:
            assert run.started_at is not None
            if batch and batch_end is not None and run.started_at >= batch_end:
                waves.append(WaveView(len(waves) + (0 if canaries else 1), False,
                                      [self._progress(r, groups) for r in batch]))
                batch, batch_end = [], None
            batch.append(run)
            end = run.finished_at or now
            batch_end = end if batch_end is None else max(batch_end, end)
        if batch:
            waves.append(WaveView(len(waves) + (0 if canaries else 1), False,
                                  [self._progress(r, groups) for r in batch]))
        if waiting:
            waves.append(WaveView(len(waves) + (0 if canaries else 1), False,
                                  [self._progress(r, groups) for r in waiting]))
        return waves


def _unavailable(node: str, inventory: dict[str, ManagedNode],
                 runs: dict[str, RunRecord]) -> bool:
    seen = inventory.get(node)
    health = Health(seen.health) if seen is not None else Health.UNKNOWN
    run = runs.get(node)
    if run is None:
        return health is not Health.UP
    return occupies_allowance(NodeStep(run.step), health)


def _node_view(cluster: str, spec: NodeSpec, settings: ClusterSettings,
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


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
