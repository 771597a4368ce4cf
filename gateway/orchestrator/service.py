"""The operator's service layer over campaigns and nodes (what the API and CLI call).

Every action reads the current state, asks the domain whether it is legal
(IllegalTransitionError -> HTTP 409 otherwise) and writes with compare-and-set,
so two operators, or an operator and the scheduler, cannot both win. Unknown
campaigns or nodes raise gateway.store.NotFoundError (HTTP 404).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.domain import (
    CampaignEvent,
    IllegalTransitionError,
    NodeStep,
    RunProgress,
    clear_node,
    open_failures,
    retry_node,
)
from gateway.orchestrator.reports import (
    CampaignReport,
    ComplianceReport,
    campaign_report,
    compliance_report,
)
from gateway.orchestrator.scheduler import domain_campaign, domain_run
from gateway.store import GatewayStore, ImageState, StoreError, utcnow
from gateway.store.campaign_records import CampaignRecord, ManagedNode, RunRecord
from gateway.store.campaigns import CampaignStore

LOG = logging.getLogger(__name__)
_ATTEMPTS = 3


@dataclass(frozen=True)
class CampaignDetail:
    """A campaign with every node run."""

    campaign: CampaignRecord
    runs: tuple[RunRecord, ...]


class CampaignService:
    """List, show and act on campaigns and nodes. ``on_change`` wakes the orchestrator."""

    def __init__(self, images: GatewayStore, store: CampaignStore,
                 on_change: Callable[[], None] | None = None) -> None:
        self.images = images
        self.store = store
        self._on_change = on_change or (lambda: None)

    # -- reads -----------------------------------------------------------------------

    def list_campaigns(self, *, state: str | None = None,
                       cluster: str | None = None) -> list[CampaignRecord]:
        return self.store.list_campaigns([state] if state else (), cluster)

    def show(self, campaign_id: str) -> CampaignDetail:
        campaign = self.store.get_campaign(campaign_id)
        return CampaignDetail(campaign, tuple(self.store.runs(campaign_id)))

    def nodes(self, cluster: str | None = None) -> list[ManagedNode]:
        """Every registered node's last inventory."""
        return self.store.nodes(cluster)

    def node_runs(self, node_id: str) -> list[RunRecord]:
        """The node's runs in every campaign, oldest first."""
        return self.store.runs_of_node(node_id)

    def report(self, campaign_id: str) -> CampaignReport:
        campaign = self.store.get_campaign(campaign_id)
        return campaign_report(campaign, self.store.runs(campaign_id))

    def compliance(self, cluster: str) -> ComplianceReport:
        """Each node of ``cluster`` against the newest verified image."""
        verified = [i for i in self.images.list_images(ImageState.VERIFIED)
                    if i.verified_at is not None]
        newest = max(verified, key=lambda i: (i.verified_at, i.sha256), default=None)
        return compliance_report(
            cluster, self.store.nodes(cluster), newest.sha256 if newest else None,
            newest.release if newest else None, newest.manifest_json if newest else None)

    # -- campaign actions ------------------------------------------------------------

    def approve(self, campaign_id: str) -> CampaignRecord:
        return self._campaign_event(campaign_id, CampaignEvent.APPROVE, "approved by operator")

    def pause(self, campaign_id: str) -> CampaignRecord:
        return self._campaign_event(campaign_id, CampaignEvent.PAUSE,
                                    "paused by operator: nothing new starts")

    def resume(self, campaign_id: str) -> CampaignRecord:
        return self._campaign_event(campaign_id, CampaignEvent.RESUME, "resumed by operator")

    def abort(self, campaign_id: str) -> CampaignRecord:
        """Abort: nothing new starts, nodes in flight finish safely, pending ones skipped."""
        record = self._campaign_event(campaign_id, CampaignEvent.ABORT,
                                      "aborted by operator")
        self.store.skip_pending(campaign_id, "campaign aborted")
        self.images.remove_image_reference(record.image_sha256, f"campaign:{campaign_id}")
        return record

    def _campaign_event(self, campaign_id: str, event: CampaignEvent,
                        reason: str) -> CampaignRecord:
        for _ in range(_ATTEMPTS):
            record = self.store.get_campaign(campaign_id)
            runs = [domain_run(r) for r in self.store.runs(campaign_id)]
            updated = domain_campaign(record).apply(event, failures=open_failures(runs))
            if self.store.change_campaign_state(campaign_id, record.state,
                                                updated.state.value, reason=reason,
                                                finished=updated.terminal):
                LOG.info("campaign %s: %s (%s -> %s)", campaign_id, event.value, record.state,
                         updated.state.value)
                self._on_change()
                return self.store.get_campaign(campaign_id)
        raise StoreError(f"campaign {campaign_id}: state kept changing; try again")

    # -- node actions ------------------------------------------------------------------

    def retry_node(self, campaign_id: str, node_id: str) -> RunRecord:
        """A quarantined node goes back to PENDING (next attempt); a held manual-only node
        is released. IllegalTransitionError otherwise, or when the campaign is over."""
        self._require_open(campaign_id, node_id, "retry")
        record = self.store.run(campaign_id, node_id)
        updated = retry_node(domain_run(record))
        fields: dict[str, Any] = {"step": updated.step.value, "attempt": updated.attempt,
                                  "held": updated.held, "error": updated.error}
        if updated.step is NodeStep.PENDING and record.step != NodeStep.PENDING.value:
            fields |= {"progress": RunProgress(), "finished_at": None, "lease_owner": None,
                       "lease_expires": None, "next_action_at": None}
        return self._save_node(record, fields, "retry")

    def clear_node(self, campaign_id: str, node_id: str) -> RunRecord:
        """Give a quarantined or pending node up (SKIPPED). A quarantined node stops
        counting against the failure budget; either still counts as unavailable while it
        is observed down. IllegalTransitionError for a node in any other step."""
        record = self.store.run(campaign_id, node_id)
        updated = clear_node(domain_run(record))
        return self._save_node(record, {"step": updated.step.value, "error": updated.error,
                                        "finished_at": utcnow()}, "clear")

    def _require_open(self, campaign_id: str, node_id: str, action: str) -> None:
        campaign = domain_campaign(self.store.get_campaign(campaign_id))
        if campaign.terminal:
            raise IllegalTransitionError("node", node_id, campaign.state.value, action,
                                         f"campaign {campaign_id} is {campaign.state.value}")

    def _save_node(self, record: RunRecord, fields: dict[str, Any],
                   action: str) -> RunRecord:
        if not self.store.save_run(record.campaign_id, record.node_id, owner=None,
                                   expected_step=record.step,
                                   expected_attempt=record.attempt, **fields):
            current = self.store.run(record.campaign_id, record.node_id)
            raise IllegalTransitionError("node", record.node_id, current.step, action,
                                         "the node changed state meanwhile; look again")
        LOG.info("node %s in %s: %s by operator", record.node_id, record.campaign_id, action)
        self._on_change()
        return self.store.run(record.campaign_id, record.node_id)
