"""What the API's views work with: the parts of the running gateway they call.

One `ApiContext` per Flask app, reachable from a view with `api_context()`.
Parts that a gateway may run without (the orchestrator, the intake, the media
server) are optional; a route that needs a missing part answers 503.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from gateway.api.audit import AuditLog
from gateway.api.auth import TokenStore
from gateway.api.errors import UnavailableError
from gateway.api.metrics import GatewayMetrics
from gateway.api.ports import Operations
from gateway.config import GatewayConfig
from gateway.intake.service import IntakeService
from gateway.store import GatewayStore
from gateway.store.operators import OperatorStore

CONTEXT_KEY = "fleetflash.context"


@dataclass
class ApiContext:
    """The gateway parts behind the API. `secure_cookies`: the API is served over HTTPS."""

    store: GatewayStore
    tokens: TokenStore
    audit: AuditLog
    metrics: GatewayMetrics
    intake: IntakeService | None = None
    operations: Operations | None = None
    secure_cookies: bool = False
    config: GatewayConfig | None = None  # for the BMC registry's checks (POST /api/bmcs:import)
    # Joins what changed in the BMC registry into the running fleet now; returns the
    # node ids that joined (gateway/orchestrator/registry_sync.py). None: no orchestrator.
    join_registered: Callable[[], list[str]] | None = None

    @classmethod
    def for_store(cls, store: GatewayStore, *, intake: IntakeService | None = None,
                  operations: Operations | None = None,
                  metrics: GatewayMetrics | None = None) -> ApiContext:
        """A context whose tokens and audit log live in `store`'s database."""
        metrics = metrics or GatewayMetrics()
        metrics.watch_store(store)
        operators = OperatorStore(store.engine)
        return cls(store=store, tokens=TokenStore(operators), audit=AuditLog(operators),
                   metrics=metrics, intake=intake, operations=operations)

    def require_operations(self) -> Operations:
        """The orchestrator's operations, or 503 when this gateway runs none."""
        if self.operations is None:
            raise UnavailableError("campaign orchestration is not running in this gateway")
        return self.operations

    def require_intake(self) -> IntakeService:
        """The intake service, or 503 when this gateway runs none."""
        if self.intake is None:
            raise UnavailableError("alert intake is not running in this gateway")
        return self.intake


def api_context() -> ApiContext:
    """The context of the app handling the current request."""
    context = current_app.extensions[CONTEXT_KEY]
    assert isinstance(context, ApiContext)
    return context
