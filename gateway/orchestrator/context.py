"""What a step handler gets (StepContext) and what it answers (Stay or Advance).

A handler does one short piece of work for one node and answers either
``Stay`` (look again after ``delay_s``) or ``Advance`` (move to the next
step, storing ``fields`` on the run). It raises StepFailedError when the
node must fail, and lets RedfishError escape for the engine's retry policy.
Before a side effect that must not be repeated after a crash, a handler
calls ``ctx.mark(...)``: the marker is persisted before the call is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_payloads import Manifest, VersionError, parse_version
from gateway.domain import NodeInventory, NodeStep
from gateway.orchestrator.bmc import ClientPool, FleetBmcClient
from gateway.orchestrator.settings import ClusterSettings, OrchestratorSettings
from gateway.redfish import BmcEndpoint
from gateway.store.campaign_records import CampaignRecord, ManagedNode, RunRecord


@dataclass(frozen=True)
class Stay:
    """Remain in the current step; look again after ``delay_s`` seconds."""

    delay_s: float
    note: str = ""
    progress: dict[str, Any] | None = None  # replaces the stored progress when set


@dataclass(frozen=True)
class Advance:
    """Go to ``step``; ``fields`` are stored on the run in the same write."""

    step: NodeStep
    fields: dict[str, Any] = field(default_factory=dict)


Outcome = Stay | Advance


@dataclass
class StepContext:
    """Everything one handler call may use. ``streaks`` survives between calls in this
    process only (a restart begins counting good answers again, which is safe)."""

    run: RunRecord
    campaign: CampaignRecord
    cluster: ClusterSettings
    endpoint: BmcEndpoint
    settings: OrchestratorSettings
    manifest: Manifest
    clients: ClientPool
    media_url: Callable[[], str]
    image_file: Callable[[], Path]
    mark: Callable[[dict[str, Any]], None]
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

    @property
    def node(self) -> str:
        return self.run.node_id

    @property
    def progress(self) -> dict[str, Any]:
        return self.run.progress

    def client(self) -> FleetBmcClient:
        """The node's BMC client (connects on first use). Raises RedfishError."""
        return self.clients.get(self.endpoint)


def missing_versions(installed: dict[str, str], targets: dict[str, str]) -> list[str]:
    """Components whose installed version is below its target, as "BIOS 1.0 (want 1.5)"."""
    behind = []
    for component, wanted in sorted(targets.items()):
        have = installed.get(component)
        try:
            ok = have is not None and parse_version(have) >= parse_version(wanted)
        except VersionError:
            ok = have == wanted
        if not ok:
            behind.append(f"{component} {have or 'absent'} (want {wanted})")
    return behind
