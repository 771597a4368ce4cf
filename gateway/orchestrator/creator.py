"""Creating campaigns when an image becomes verified.

The hook into intake is its persisted state: the intake's acquisition worker
marks an image ``verified`` in the store, and this module looks for the newest
verified image that a configured cluster has no campaign for yet. Polling the
store (not an in-process callback) means an image verified by another gateway,
or just before a crash, still gets its campaigns.

One campaign per (image, cluster): clusters have independent redundancy,
failure budgets and autonomy policies, so they are approved, paused and
reported separately. Older verified images are superseded by the newest one
and get no new campaigns. Once that campaign has ended, an operator may start
the image again on the cluster (a new generation, e.g. after fixing the BMCs
the first one could not reach); the gateway never does so by itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from firmware_payloads import BundleError, Manifest
from gateway.domain import (
    NOT_APPLICABLE_NOTE,
    OTHER_MODEL_NOTE,
    PARTLY_NOTE,
    Health,
    NodeStep,
    new_campaign,
    plan_campaign,
)
from gateway.orchestrator.client_pool import ClientPool
from gateway.orchestrator.inventory import EventDestination, applicability, inventory_cluster
from gateway.orchestrator.kept_lease import kept_lease
from gateway.orchestrator.settings import ClusterSettings, OrchestratorSettings
from gateway.store import GatewayStore, ImageRecord, NotFoundError, utcnow
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore
from gateway.store.image_reads import newest_verified_sha

LOG = logging.getLogger(__name__)


def campaign_id_for(cluster: str, image_sha256: str, generation: int = 1) -> str:
    """A stable id (≤ 64 characters): the cluster name, the image digest's start and,
    from the second campaign of the image on the cluster on, its generation."""
    suffix = "" if generation == 1 else f"-{generation}"
    if len(cluster) <= 50 - len(suffix):
        return f"{cluster}-{image_sha256[:12]}{suffix}"
    return f"{cluster[:30]}-{hashlib.sha256(cluster.encode()).hexdigest()[:8]}-" \
           f"{image_sha256[:12]}{suffix}"


@dataclass(eq=False)
class CampaignCreator:
    """Inventories clusters and creates their campaigns for the newest verified image."""

    store: CampaignStore
    images: GatewayStore
    clusters: dict[str, ClusterSettings]
    settings: OrchestratorSettings
    owner: str
    clients: ClientPool | None = None
    events: EventDestination | None = None
    # Whether the inventory subscribes every BMC to this gateway's events: alone, yes;
    # in a fleet each gateway subscribes the nodes it drives (Orchestrator._drive), so
    # events go to the gateway that uses them, not all to the one that inventoried.
    subscribe_all: Callable[[], bool] = lambda: True
    # Clusters already told why no campaign starts for a staged image (once, not every tick).
    _told_staged: set[str] = field(default_factory=set, init=False)
    # (image, cluster) pairs known to have a campaign: campaigns are never deleted, so
    # the background loop need not ask the store again every second.
    _created: set[tuple[str, str]] = field(default_factory=set, init=False)

    def _image(self, sha256: str) -> ImageRecord | None:
        try:
            return self.images.get_image(sha256)
        except NotFoundError:  # gone between the two reads: none for now
            return None

    def create_due(self) -> list[str]:
        """Create the missing campaigns of the newest verified image; returns their ids.
        Every second, in the background: the newest image's digest alone is read, and
        the image itself only while a cluster may still lack its campaign."""
        sha256 = newest_verified_sha(self.images.engine)
        if sha256 is None or all((sha256, name) in self._created for name in self.clusters):
            return []
        image = self._image(sha256)
        if image is None:
            return []
        created = []
        for name, cluster in sorted(self.clusters.items()):
            if (image.sha256, name) in self._created:
                continue
            if self.store.find_campaign(image.sha256, name) is not None:
                self._created.add((image.sha256, name))
                continue
            if (staged := cluster.staged_refusal()) is not None:
                if name not in self._told_staged:  # once per cluster, not every tick
                    self._told_staged.add(name)
                    LOG.warning("no campaign for image %s: %s", image.sha256[:12], staged)
                continue
            lease = f"create:{name}"
            if not self.store.take_lease(lease, self.owner, self.settings.lease):
                continue  # another gateway is inventorying this cluster
            with kept_lease(self.store, lease, self.owner, self.settings.lease):
                campaign_id = self.create(image, cluster)
            if campaign_id:
                created.append(campaign_id)
        return created

    def create(self, image: ImageRecord, settings: ClusterSettings,
               generation: int = 1, allow_downgrade: bool = False) -> str | None:
        """Inventory the cluster, plan, and store the campaign (the ``generation``-th of
        the image on the cluster). None if another gateway created it first or the
        image's manifest is unusable. ``allow_downgrade``: older versions apply too (the
        caller checked the policy)."""
        assert image.manifest_json is not None
        try:
            manifest = Manifest.from_json(image.manifest_json.encode())
        except BundleError as exc:
            LOG.error("image %s: stored manifest unusable: %s", image.sha256, exc)
            return None
        cluster = settings.cluster
        errors: dict[str, str] = {}
        inventories = inventory_cluster(self.store, cluster.name,
                                        settings.endpoints.values(),
                                        workers=self.settings.inventory_workers,
                                        clients=self.clients,
                                        events=self.events if self.subscribe_all() else None,
                                        errors=errors)
        unreached = {node: errors.get(node) or "no inventory"
                     for node in cluster.node_ids() if node not in inventories}
        fits = {node: applicability(manifest, inv.model, inv.installed_versions(),
                                    inv.capabilities.version_source,
                                    allow_downgrade=allow_downgrade)
                for node, inv in inventories.items() if cluster.has_node(node)}
        health = {node: inv.observed_health() for node, inv in inventories.items()}
        # A staged campaign's waves are its resets: staging takes no host down, so only
        # the disruptive part has to fit the windows and counts in the plan.
        slot = (self.settings.expected_reset_s if settings.staged
                else self.settings.expected_node_s)
        plan = plan_campaign(
            cluster, {node: fit.target for node, fit in fits.items()}, health,
            start=utcnow(), slot=timedelta(seconds=slot),
            max_concurrent=self.settings.global_max_concurrent)
        campaign_id = campaign_id_for(cluster.name, image.sha256, generation)
        campaign = new_campaign(campaign_id, cluster, plan.canaries, len(unreached))
        runs = []
        for node, run in plan.initial_runs().items():
            inventory = inventories[node]
            fit = fits[node]
            error = run.error
            if run.step is NodeStep.NOT_APPLICABLE:
                prefix = OTHER_MODEL_NOTE if fit.other_model else NOT_APPLICABLE_NOTE
                error = f"{prefix}: " + "; ".join(fit.reasons)
            elif not error and (unread := [r for r in fit.reasons if ": unknown_version " in r]):
                error = f"{PARTLY_NOTE}: " + "; ".join(unread)
            runs.append(NewRun(
                node_id=node, step=run.step.value, canary=run.canary, held=run.held,
                error=error[:1000] if error else None, model=inventory.model,
                packages=fit.packages, before_versions=inventory.installed_versions(),
                target_versions=fit.versions))
        record = NewCampaign(
            id=campaign_id, cluster=cluster.name, image_sha256=image.sha256,
            bundle_id=image.bundle_id, release=image.release, state=campaign.state.value,
            failure_budget=campaign.failure_budget, canaries=campaign.canaries,
            planned_waves=len(plan.waves), lower_bound=plan.lower_bound,
            reason=_summary(len(inventories), len(cluster.node_ids()), health),
            generation=generation, unreached={n: e[:300] for n, e in unreached.items()},
            allow_downgrade=allow_downgrade)
        if not self.store.create_campaign(record, runs):
            return None
        self.images.add_image_reference(image.sha256, f"campaign:{campaign_id}")
        LOG.info("campaign %s created (%s): %d nodes, canaries %s, %d waves planned, "
                 "%d BMCs not reached", campaign_id, campaign.state.value, len(runs),
                 ", ".join(plan.canaries), len(plan.waves), len(unreached))
        return campaign_id


def _summary(answered: int, total: int, health: dict[str, Health]) -> str:
    down = sum(1 for h in health.values() if h is not Health.UP)
    return f"inventory: {answered} of {total} BMCs answered, {down} not up"
