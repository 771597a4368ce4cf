"""The one exception root of the orchestrator.

Operator actions that conflict with a campaign's or node's state raise
gateway.domain.IllegalTransitionError (the API answers 409); an unknown
campaign or node raises gateway.store.NotFoundError (404).
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Root of every error raised by gateway.orchestrator."""


class HookError(OrchestratorError):
    """A drain or undrain hook failed (non-zero exit, HTTP error, timeout)."""


class LeaseLostError(OrchestratorError):
    """Another gateway took over the node (our lease expired): stop driving it."""


class StepFailedError(OrchestratorError):
    """A step found a condition it cannot recover from; the node fails with this reason."""
