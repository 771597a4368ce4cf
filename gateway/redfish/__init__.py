"""The BMC client adapter, built on sushy: inventory, delivery, tasks, events.

Import from here; everything raised is a RedfishError (``.transient`` says
whether a retry may help).
"""

from gateway.redfish.client import BmcClient, probe, probe_session, wait_until_back
from gateway.redfish.common import parse_retry_after
from gateway.redfish.endpoint import BmcEndpoint, TlsMode, normalise_fingerprint
from gateway.redfish.errors import (
    AuthenticationError,
    BmcBusyError,
    BmcUnreachableError,
    ConfigurationError,
    NotSupportedError,
    OperationTimeoutError,
    RedfishError,
    RequestRejectedError,
    ResourceMissingError,
    TaskFailedError,
    TlsError,
)
from gateway.redfish.systems import BootOverride
from gateway.redfish.tasks import TaskRef, TaskStatus, TaskSummary
from gateway.redfish.virtual_media import MediaState

__all__ = [
    "AuthenticationError", "BmcBusyError", "BmcClient", "BmcEndpoint", "BmcUnreachableError",
    "BootOverride", "ConfigurationError", "MediaState", "NotSupportedError",
    "OperationTimeoutError", "RedfishError", "RequestRejectedError", "ResourceMissingError",
    "TaskFailedError", "TaskRef", "TaskStatus", "TaskSummary", "TlsError", "TlsMode",
    "normalise_fingerprint", "parse_retry_after", "probe", "probe_session", "wait_until_back",
]
