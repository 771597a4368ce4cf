"""The orchestrator's service layer adapted to the API's `Operations` interface.

With gateway/api/campaign_views.py (which renders the records it reads), the only
module of gateway.api that knows gateway.orchestrator.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator

from gateway.api.campaign_views import (
    campaign_view,
    groups_of,
    node_progress,
    node_view,
    parse_time,
    unavailable,
)
from gateway.api.ports import (
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
)
from gateway.api.timeline import build_timeline
from gateway.domain import (
    TERMINAL_STATES,
    CampaignState,
    IllegalTransitionError,
    NodeSpec,
    NodeStep,
)
from gateway.orchestrator.creator import CampaignCreator
from gateway.orchestrator.service import CampaignService
from gateway.orchestrator.settings import ClusterSettings
from gateway.redfish import BmcEndpoint
from gateway.redfish.endpoint import TlsMode
from gateway.redfish.errors import ConfigurationError
from gateway.store import ImageState, NotFoundError, utcnow
from gateway.store.campaign_records import CampaignRecord, RunRecord

_ACTIONS = ("approve", "pause", "resume", "abort")


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
                down = sum(1 for node in members if unavailable(node, inventory, runs))
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
                views.append(node_view(name, spec, settings, inventory.get(node_id),
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
        return node_progress(run, self._group_of(self.service.store.get_campaign(
            campaign_id).cluster))

    def campaign_report(self, campaign_id: str) -> list[NodeReportView]:
        report = self.service.report(campaign_id)
        return [NodeReportView(
            node_id=n.node_id, outcome=n.outcome, method=n.method,
            versions_before=n.before_versions, versions_after=n.after_versions,
            started_at=parse_time(n.started_at), finished_at=parse_time(n.finished_at),
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
            joined = settings.with_node(NodeSpec(registration.id, registration.group,
                                                 registration.qos),
                                        endpoint)  # InvalidClusterError -> 400
            if self._persist is not None:
                self._persist(registration)
            self.clusters[registration.cluster] = joined
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

    def _group_of(self, cluster: str) -> dict[str, str]:
        return groups_of(self.clusters.get(cluster))

    def _campaign(self, record: CampaignRecord, runs: list[RunRecord], *,
                  waves: bool) -> CampaignView:
        return campaign_view(record, runs, self._group_of(record.cluster), waves=waves)
