"""What a step handler gets (StepContext) and what it answers (Stay or Advance).

A handler does one short piece of work for one node and answers either
``Stay`` (look again after ``delay_s``) or ``Advance`` (move to the next
step, storing ``fields`` on the run). It raises StepFailedError when the
node must fail, and lets RedfishError escape for the engine's retry policy.
Before a side effect that must not be repeated after a crash, a handler
calls ``ctx.mark(replace(ctx.progress, marker=...))``: the marker
(gateway.domain.RunProgress) is persisted before the call is made.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_payloads import DEFAULT_SCHEME, Manifest, VersionError, VersionScheme, is_downgrade
from gateway.domain import NodeInventory, NodeStep
from gateway.domain.run_progress import RunProgress
from gateway.domain.update_signals import UpdateSignal
from gateway.media import CapabilityGrant
from gateway.orchestrator.bmc import FleetBmcClient
from gateway.orchestrator.client_pool import ClientPool
from gateway.orchestrator.settings import ClusterSettings, OrchestratorSettings
from gateway.redfish import BmcEndpoint
from gateway.store.campaign_records import CampaignRecord, ManagedNode, RunRecord


@dataclass(frozen=True)
class Stay:
    """Remain in the current step; look again after ``delay_s`` seconds."""

    delay_s: float
    note: str = ""
    progress: RunProgress | None = None  # replaces the stored progress when set


@dataclass(frozen=True)
class Advance:
    """Go to ``step``; ``fields`` (and ``progress`` when set: it replaces the current
    one) are stored on the run in the same write."""

    step: NodeStep
    fields: dict[str, Any] = field(default_factory=dict)
    progress: RunProgress | None = None

    def __post_init__(self) -> None:
        if "progress" in self.fields:  # would bypass the typed markers
            raise TypeError("Advance: pass the progress as progress=RunProgress(...)")


Outcome = Stay | Advance


@dataclass
class StepContext:
    """Everything one handler call may use. ``streaks`` survives between calls in this
    process only (a restart begins counting good answers again, which is safe).
    ``progress`` is the run's progress as last marked (the stored one at first)."""

    run: RunRecord
    campaign: CampaignRecord
    cluster: ClusterSettings
    endpoint: BmcEndpoint
    settings: OrchestratorSettings
    manifest: Manifest
    clients: ClientPool
    media_url: Callable[[], str]
    image_file: Callable[[], Path]
    save_progress: Callable[[RunProgress], None]  # persist it (LeaseLostError if it cannot)
    observe: Callable[[NodeInventory], None]  # record a fresh inventory (health, versions)
    streaks: dict[str, int]
    now: datetime
    epoch: str = ""  # this gateway process: a delivery made by another one may have broken
    # Seconds MONITOR took on nodes of this campaign that finished (learned from canaries).
    typical_monitor_s: float | None = None
    # The node's stored inventory (capabilities do not change during an update).
    known_node: Callable[[], ManagedNode | None] = lambda: None
    # The node's BMC pushes its events to the gateway: an event wakes the node at once.
    events: bool = False
    # The Update messages the node's BMC pushed that arrived at or after a moment.
    pushed: Callable[[datetime], tuple[UpdateSignal, ...]] = lambda _since: ()
    # The campaign has not ended (read now): an ended one (e.g. aborted by a withdrawal)
    # lets its nodes in flight finish, but never delivers to them again.
    campaign_open: Callable[[], bool] = lambda: True
    # The grant of a capability URL a gateway of this fleet minted (None: not one): media
    # provably the gateway's own even when the run's record of it was lost.
    media_grant: Callable[[str], CapabilityGrant | None] = lambda _url: None

    @property
    def node(self) -> str:
        return self.run.node_id

    progress: RunProgress = field(init=False)

    def __post_init__(self) -> None:
        self.progress = self.run.progress

    def mark(self, progress: RunProgress) -> None:
        """Persist ``progress`` (markers of a side effect about to happen) before going on."""
        self.save_progress(progress)
        self.progress = progress

    def client(self) -> FleetBmcClient:
        """The node's BMC client (connects on first use). Raises RedfishError."""
        return self.clients.get(self.endpoint)


def missing_versions(installed: dict[str, str], targets: dict[str, str],
                     manifest: Manifest | None = None, model: str | None = None,
                     downgraded: Collection[str] = ()) -> list[str]:
    """Components whose installed version is below its target, as "BIOS 1.0 (want 1.5)",
    compared with the version scheme of the ``manifest``'s package for the component
    (and ``model``); the default scheme without one. The exact target string always
    counts as reached; a version that does not read under the scheme never does.
    A ``downgraded`` component must be at its target exactly: above it is still the
    version the rollback replaces."""
    schemes = schemes_for(manifest, model) if manifest is not None else {}
    behind = []
    for component, wanted in sorted(targets.items()):
        have = installed.get(component)
        scheme = schemes.get(component, DEFAULT_SCHEME)
        try:
            ok = have is not None and (have == wanted or (
                scheme.at_least(have, wanted) and (component not in downgraded
                                                   or scheme.at_least(wanted, have))))
        except VersionError:
            behind.append(f"{component} {have!r} unreadable as a {scheme.describe()} "
                          f"(want {wanted})")
            continue
        if not ok:
            behind.append(f"{component} {have or 'absent'} (want {wanted})")
    return behind


def schemes_for(manifest: Manifest, model: str | None) -> dict[str, VersionScheme]:
    """Component -> the version scheme of the package updating it (on ``model``)."""
    return {pkg.component: pkg.version_scheme for pkg in manifest.packages
            if model is None or model in pkg.models}


def versions_behind(ctx: StepContext, installed: dict[str, str],
                    components: Collection[str] | None = None) -> list[str]:
    """missing_versions for the node of ``ctx`` (its run's targets, or those of
    ``components``, the image's schemes; in a campaign allowing downgrades, the
    components it lowers must match exactly)."""
    downgraded: set[str] = set()
    if ctx.campaign.allow_downgrade:
        downgraded = {pkg.component for pkg in ctx.manifest.packages
                      if pkg.id in ctx.run.packages
                      and is_downgrade(pkg, ctx.run.before_versions)}
    targets = ctx.run.target_versions
    if components is not None:
        targets = {c: v for c, v in targets.items() if c in components}
    return missing_versions(installed, targets, ctx.manifest, ctx.run.model or None,
                            downgraded)
