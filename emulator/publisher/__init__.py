"""The update publisher ("designated website"): serves bundles over HTTP with Range
support and announces or withdraws them with CIM alerts (pywbem ExportIndication)."""

from emulator.publisher.sender import (
    PublishError,
    send_indication,
    update_available_indication,
    withdrawn_indication,
)
from emulator.publisher.server import BundleServer

__all__ = [
    "BundleServer",
    "PublishError",
    "send_indication",
    "update_available_indication",
    "withdrawn_indication",
]
