"""Pure parts of the Redfish adapter: Retry-After, task documents, capabilities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.redfish import parse_retry_after
from gateway.redfish.tasks import status_from_task
from gateway.redfish.update_service import (
    apply_times,
    component_from,
    max_image_size,
    multipart_push_uri,
    simple_update_action,
    transfer_protocols,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("description", "header", "seconds"),
    [
        ("absent", None, 1.0),
        ("empty", "  ", 1.0),
        ("delta seconds", "5", 5.0),
        ("zero", "0", 0.0),
        ("IMF-fixdate in the future", "Wed, 25 Nov 2026 12:00:30 GMT", 30.0),
        ("IMF-fixdate in the past", "Wed, 25 Nov 2026 11:59:00 GMT", 0.0),
        ("obsolete RFC 850 date", "Wednesday, 25-Nov-26 12:01:00 GMT", 60.0),
        ("asctime date", "Wed Nov 25 12:00:10 2026", 10.0),
        ("garbage", "soon", 1.0),
        ("negative number", "-3", 1.0),
    ],
)
def test_retry_after(description: str, header: str | None, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("description", "body", "finished", "succeeded"),
    [
        ("running", {"TaskState": "Running", "PercentComplete": 40}, False, None),
        ("new", {"TaskState": "New"}, False, None),
        ("completed OK", {"TaskState": "Completed", "TaskStatus": "OK"}, True, True),
        ("completed but critical", {"TaskState": "Completed", "TaskStatus": "Critical"},
         True, False),
        ("exception", {"TaskState": "Exception", "TaskStatus": "Critical"}, True, False),
        ("killed", {"TaskState": "Killed"}, True, False),
        ("cancelled", {"TaskState": "Cancelled"}, True, False),
        ("suspended is not an end", {"TaskState": "Suspended"}, False, None),
    ],
)
def test_task_documents(description: str, body: dict[str, Any], finished: bool,
                        succeeded: bool | None) -> None:
    status = status_from_task(body, 2.0)
    assert (status.finished, status.succeeded, status.retry_after) == (finished, succeeded, 2.0)


def test_task_messages_are_kept_for_reports() -> None:
    status = status_from_task({
        "TaskState": "Exception", "PercentComplete": 30,
        "Messages": [{"MessageId": "Update.1.0.ApplyFailed", "Message": "BIOS apply failed"}],
    }, 1.0)
    assert status.message_ids == ("Update.1.0.ApplyFailed",)
    assert status.messages == ("BIOS apply failed",) and status.percent == 30


FULL_SERVICE: dict[str, Any] = {
    "MaxImageSizeBytes": 1024,
    "MultipartHttpPushUri": "/redfish/v1/UpdateService/upload",
    "MultipartHttpPushUri@Redfish.OperationApplyTimeSupport": {
        "SupportedValues": ["OnStartUpdateRequest", "Immediate"]},
    "HttpPushUriOptions": {"HttpPushUriApplyTime": {
        "ApplyTime@Redfish.AllowableValues": ["AtMaintenanceWindowStart", "VendorLater"]}},
    "Actions": {"#UpdateService.SimpleUpdate": {
        "target": "/somewhere/else/SimpleUpdate",
        "TransferProtocol@Redfish.AllowableValues": ["HTTPS", "NFS"],
        "@Redfish.OperationApplyTimeSupport": {"SupportedValues": ["OnReset"]},
    }},
}


def test_capabilities_from_a_full_update_service() -> None:
    assert simple_update_action(FULL_SERVICE) == FULL_SERVICE["Actions"][
        "#UpdateService.SimpleUpdate"]
    assert transfer_protocols(FULL_SERVICE) == ("HTTPS", "NFS")
    assert multipart_push_uri(FULL_SERVICE) == "/redfish/v1/UpdateService/upload"
    # Gathered from all three places, standard ones in Redfish order, others after.
    assert apply_times(FULL_SERVICE) == ("Immediate", "OnReset", "AtMaintenanceWindowStart",
                                         "OnStartUpdateRequest", "VendorLater")
    assert max_image_size(FULL_SERVICE) == 1024


@pytest.mark.parametrize(
    ("description", "service"),
    [
        ("nothing at all", {}),
        ("action without target", {"Actions": {"#UpdateService.SimpleUpdate": {}}}),
        ("wrong types", {"MultipartHttpPushUri": 7, "MaxImageSizeBytes": "big",
                         "Actions": {"#UpdateService.SimpleUpdate": "x"}}),
    ],
)
def test_missing_capabilities_are_absent_not_errors(description: str,
                                                    service: dict[str, Any]) -> None:
    assert simple_update_action(service) is None
    assert transfer_protocols(service) == () and apply_times(service) == ()
    assert multipart_push_uri(service) is None and max_image_size(service) is None


def test_firmware_inventory_member() -> None:
    component = component_from({"Id": "BIOS", "Version": "1.16.0", "Updateable": False,
                                "Status": {"Health": "Warning"}})
    assert (component.id, component.version, component.updateable, component.health.value) == (
        "BIOS", "1.16.0", False, "Warning")
    odd = component_from({"Id": "NIC", "Status": {"Health": "Bad"}})
    assert (odd.version, odd.health.value) == ("", "Unknown")
