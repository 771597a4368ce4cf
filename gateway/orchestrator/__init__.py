"""Runs campaigns: creation from verified images, slot filling, node workers, crash recovery.

Public names: Orchestrator (the running executor), CampaignService (operator
actions and reads for the API/CLI), CampaignMediaGate (the media server's
campaign check), OrchestratorSettings, ClusterSettings, Hook, build_orchestrator.
See docs/orchestration.md ("Executor").
"""

from gateway.orchestrator.errors import (
    HookError,
    LeaseLostError,
    OrchestratorError,
    StepFailedError,
)
from gateway.orchestrator.media_gate import CampaignMediaGate
from gateway.orchestrator.runtime import Orchestrator
from gateway.orchestrator.service import CampaignDetail, CampaignService
from gateway.orchestrator.settings import ClusterSettings, Hook, OrchestratorSettings

__all__ = [
    "CampaignDetail", "CampaignMediaGate", "CampaignService", "ClusterSettings", "Hook",
    "HookError", "LeaseLostError", "Orchestrator", "OrchestratorError",
    "OrchestratorSettings", "StepFailedError",
]
