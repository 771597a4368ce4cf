"""When updated firmware takes effect (a cluster's ``activation`` policy).

In the domain so the configuration model (gateway.config_model) names it without
importing the orchestrator; gateway.orchestrator.settings re-exports it.
"""

from __future__ import annotations

from enum import StrEnum


class Activation(StrEnum):
    """When updated firmware takes effect: at once (``immediate``), or staged now and
    activated by resets inside maintenance windows (``staged``: accepted and
    validated; campaigns of a staged cluster are refused until it is implemented)."""

    IMMEDIATE = "immediate"
    STAGED = "staged"
