"""The audit log of operator actions: who (token name), what, on what, when, and the result.

Every state-changing API call writes one row, whether it was carried out or
refused (409 and 400 included), and one line on the ``gateway.audit`` logger.
Details are short descriptions chosen by the caller; never secrets. The rows
are kept by `gateway.store.operators`.
"""

from __future__ import annotations

import logging

from gateway.api.auth import Principal
from gateway.store.operators import AuditEvent, OperatorStore

LOG = logging.getLogger("gateway.audit")

OUTCOME_OK = "ok"
OUTCOME_REFUSED = "refused"
OUTCOME_ERROR = "error"


class AuditLog:
    """Append and read audit events. Thread-safe."""

    def __init__(self, store: OperatorStore) -> None:
        self._store = store

    def record(self, who: Principal, action: str, target: str, outcome: str,
               detail: str = "") -> AuditEvent:
        """Append one event. `outcome` is ok, refused or error. Raises StoreError."""
        event = self._store.append_audit(who.name, who.role.value, action, target, outcome,
                                         detail)
        LOG.info("audit: %s (%s) %s %s -> %s %s", who.name, who.role.value, action, target,
                 outcome, detail)
        return event

    def list(self, *, limit: int, offset: int = 0) -> tuple[list[AuditEvent], int]:
        """A page of events, newest first, and the total count."""
        return self._store.audit_page(limit=limit, offset=offset)
