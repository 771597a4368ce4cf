"""When updated firmware takes effect (a cluster's ``activation`` policy).

In the domain so the configuration model (gateway.config_model) names it without
importing the orchestrator; gateway.orchestrator.settings re-exports it.
"""

from __future__ import annotations

from enum import StrEnum


class Activation(StrEnum):
    """When updated firmware takes effect: at once (``immediate``), or staged whenever
    convenient (apply time OnReset) and activated by resets inside maintenance windows,
    wave by wave within the allowance (``staged``; docs/orchestration.md)."""

    IMMEDIATE = "immediate"
    STAGED = "staged"
