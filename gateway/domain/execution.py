"""Execution policy values the configuration and the orchestrator share (pure data).

Kept in the domain so the configuration model (gateway.config_model) can name them
without importing the orchestrator; gateway.orchestrator.settings re-exports them.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.domain.node_state import NodeStep

# Seconds each step may take before the node fails (every step has a timeout).
DEFAULT_TIMEOUTS: dict[NodeStep, float] = {
    NodeStep.PRECHECK: 120.0,
    NodeStep.DRAIN: 600.0,
    NodeStep.DELIVER: 900.0,
    NodeStep.MONITOR: 3600.0,
    NodeStep.RESET: 300.0,
    NodeStep.WAIT_BACK: 1200.0,
    NodeStep.VERIFY: 600.0,
    NodeStep.EJECT: 120.0,
    NodeStep.POSTCHECK: 600.0,
    NodeStep.UNDRAIN: 600.0,
    NodeStep.FAILED: 300.0,
}


class Activation(StrEnum):
    """When updated firmware takes effect: at once (``immediate``), or staged now and
    activated by resets inside maintenance windows (``staged``: accepted and
    validated; campaigns of a staged cluster are refused until it is implemented)."""

    IMMEDIATE = "immediate"
    STAGED = "staged"
