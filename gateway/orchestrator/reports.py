"""Reports: per-node outcome of a campaign, and per-cluster compliance with the newest image.

Plain dataclasses with ``to_json()`` so the API and CLI render them without
knowing the store.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from firmware_payloads import BundleError, Manifest
from gateway.orchestrator.inventory import applicability
from gateway.redfish.fallback import FIRMWARE_INVENTORY
from gateway.store.campaign_records import CampaignRecord, ManagedNode, RunRecord


@dataclass(frozen=True)
class NodeReport:
    """One node in one campaign. ``outcome`` is its step (done, quarantined, skipped,
    not_applicable, or the step it is in); ``duration_s`` from start to finish."""

    node_id: str
    outcome: str
    canary: bool
    attempt: int
    model: str
    method: str | None
    before_versions: dict[str, str]
    target_versions: dict[str, str]
    after_versions: dict[str, str]
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    step_seconds: dict[str, float]
    error: str | None


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: str
    cluster: str
    image_sha256: str
    release: str
    state: str
    reason: str
    outcomes: dict[str, int]
    nodes: tuple[NodeReport, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NodeCompliance:
    """``status``: compliant | outdated | not_applicable | unknown (never inventoried)."""

    node_id: str
    model: str
    status: str
    installed: dict[str, str]
    outdated: dict[str, str]  # component -> version the image would install
    observed_at: str


@dataclass(frozen=True)
class ComplianceReport:
    cluster: str
    image_sha256: str | None
    release: str | None
    counts: dict[str, int]
    nodes: tuple[NodeCompliance, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def node_report(run: RunRecord) -> NodeReport:
    duration = None
    if run.started_at and run.finished_at:
        duration = round((run.finished_at - run.started_at).total_seconds(), 3)
    return NodeReport(
        node_id=run.node_id, outcome=run.step, canary=run.canary, attempt=run.attempt,
        model=run.model, method=run.method, before_versions=run.before_versions,
        target_versions=run.target_versions, after_versions=run.after_versions,
        started_at=_iso(run.started_at), finished_at=_iso(run.finished_at),
        duration_s=duration, step_seconds=run.timings, error=run.error)


def campaign_report(campaign: CampaignRecord, runs: list[RunRecord]) -> CampaignReport:
    return CampaignReport(
        campaign_id=campaign.id, cluster=campaign.cluster, image_sha256=campaign.image_sha256,
        release=campaign.release, state=campaign.state, reason=campaign.reason,
        outcomes=dict(sorted(Counter(r.step for r in runs).items())),
        nodes=tuple(node_report(r) for r in runs))


def compliance_report(cluster: str, nodes: list[ManagedNode], image_sha256: str | None,
                      release: str | None, manifest_json: str | None) -> ComplianceReport:
    """Each node's last inventory against the newest verified image (its manifest)."""
    manifest = None
    if manifest_json:
        try:
            manifest = Manifest.from_json(manifest_json.encode())
        except BundleError:
            manifest = None
    rows = []
    for node in nodes:
        if not node.model or manifest is None:
            status, outdated = "unknown", {}
        else:
            fit = applicability(manifest, node.model, node.firmware,
                                str(node.capabilities.get("version_source", FIRMWARE_INVENTORY)))
            outdated = fit.versions
            status = ("outdated" if outdated else "compliant"
                      if fit.target.applicability.value == "up_to_date" else "not_applicable")
        rows.append(NodeCompliance(node.node_id, node.model, status, node.firmware, outdated,
                                   node.observed_at.isoformat()))
    counts = dict(sorted(Counter(r.status for r in rows).items()))
    return ComplianceReport(cluster, image_sha256, release, counts, tuple(rows))
