"""The one exception root of the pure domain.

The API maps these to status codes: InvalidClusterError and PlanningError to
400 (the caller sent a model that cannot be planned), IllegalTransitionError to
409 (the request conflicts with the current state of a node or campaign).
"""

from __future__ import annotations


class DomainError(Exception):
    """Root of every error raised by gateway.domain."""


class InvalidClusterError(DomainError):
    """A cluster declaration is inconsistent (unknown group, bad allowance, ...)."""


class PlanningError(DomainError):
    """Planner input does not match the cluster (e.g. a target for an unknown node)."""


class IllegalTransitionError(DomainError):
    """A node or campaign was asked to move to a state it may not reach from here.

    Attributes carry what an API needs to render a 409: which kind of entity,
    its id, the state it is in and the state (or action) that was requested.
    """

    def __init__(self, entity: str, entity_id: str, current: str, requested: str,
                 reason: str = "") -> None:
        self.entity = entity
        self.entity_id = entity_id
        self.current = current
        self.requested = requested
        self.reason = reason
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"{entity} {entity_id!r} cannot go from {current!r} to {requested!r}{detail}"
        )
