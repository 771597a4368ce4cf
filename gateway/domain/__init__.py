"""Pure domain logic of the gateway: cluster model, planner, state machines.

No I/O and no third-party web, Redfish, CIM or database imports: everything
here is plain typed Python, tested without a network.
"""

from gateway.domain.admission import (
    Admission,
    WaitReason,
    reassign_canaries,
    unavailable_per_group,
)
from gateway.domain.admission_book import AdmissionBook, startable_now
from gateway.domain.applicability import target_from_decisions, version_mismatches
from gateway.domain.campaign_state import (
    NOT_APPLICABLE_NOTE,
    OPERATOR_EVENTS,
    OTHER_MODEL_NOTE,
    PARTLY_NOTE,
    TERMINAL_STATES,
    UP_TO_DATE_NOTE,
    Campaign,
    CampaignEvent,
    CampaignState,
    WithdrawalPolicy,
    canary_gate_open,
    covered,
    exclusion_of,
    new_campaign,
    next_event,
    open_failures,
)
from gateway.domain.cluster import (
    AutonomyPolicy,
    Cluster,
    Health,
    NodeSpec,
    RedundancyGroup,
    down_per_group,
)
from gateway.domain.delivery import (
    DEFAULT_PREFERENCE,
    DeliveryMethod,
    NoDeliveryMethodError,
    choose_delivery,
    offered_methods,
)
from gateway.domain.errors import (
    DomainError,
    IllegalTransitionError,
    InvalidClusterError,
    PlanningError,
)
from gateway.domain.inventory import (
    FirmwareComponent,
    HealthStatus,
    NodeInventory,
    PowerState,
    UpdateCapabilities,
)
from gateway.domain.node_state import (
    ACTIVE_STEPS,
    FAILURE_STEPS,
    FINAL_STEPS,
    OPERATOR_STEPS,
    PATH,
    STAGING_STEPS,
    NodeRun,
    NodeStep,
    after_failure,
    can_transition,
    clear_node,
    occupies_allowance,
    retry_node,
)
from gateway.domain.planner import (
    Applicability,
    Exclusion,
    NodeTarget,
    Plan,
    Wave,
    lower_bound,
    plan_campaign,
    plan_waves,
)
from gateway.domain.polling import (
    MonitorPolls,
    monitor_polls,
    retry_after_silence,
)
from gateway.domain.retry import RetryPolicy
from gateway.domain.run_progress import RunProgress
from gateway.domain.windows import DEFAULT_QOS, MaintenanceWindow, QosClass

__all__ = [
    "ACTIVE_STEPS", "DEFAULT_PREFERENCE", "DEFAULT_QOS", "FAILURE_STEPS", "FINAL_STEPS",
    "NOT_APPLICABLE_NOTE", "OPERATOR_EVENTS", "OPERATOR_STEPS", "OTHER_MODEL_NOTE",
    "PARTLY_NOTE", "PATH",
    "STAGING_STEPS", "TERMINAL_STATES",
    "UP_TO_DATE_NOTE",
    "Admission", "Applicability", "AutonomyPolicy", "Campaign", "CampaignEvent",
    "CampaignState", "Cluster", "DeliveryMethod", "DomainError", "Exclusion",
    "FirmwareComponent", "Health", "HealthStatus", "IllegalTransitionError",
    "InvalidClusterError", "MaintenanceWindow", "MonitorPolls", "NoDeliveryMethodError",
    "NodeInventory",
    "NodeRun", "NodeSpec", "NodeStep", "NodeTarget", "Plan", "PlanningError", "PowerState",
    "QosClass", "RedundancyGroup", "RetryPolicy", "RunProgress", "UpdateCapabilities",
    "WaitReason", "Wave", "WithdrawalPolicy",
    "after_failure", "can_transition", "canary_gate_open", "choose_delivery", "clear_node",
    "covered",
    "down_per_group", "exclusion_of",
    "lower_bound", "monitor_polls", "new_campaign", "next_event", "occupies_allowance",
    "offered_methods", "open_failures", "plan_campaign", "plan_waves", "reassign_canaries",
    "retry_after_silence",
    "retry_node", "startable_now", "AdmissionBook",
    "target_from_decisions", "unavailable_per_group", "version_mismatches",
]
