"""Pure parts of the Redfish adapter: Retry-After, task documents, capabilities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.redfish import parse_retry_after
from gateway.redfish.tasks import status_from_task, transitioned_job
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
        ("starting", {"TaskState": "Starting"}, False, None),
        ("pending", {"TaskState": "Pending"}, False, None),
        ("stopping", {"TaskState": "Stopping"}, False, None),
        ("a running job", {"JobState": "Running", "JobStatus": "OK"}, False, None),
        ("a completed job", {"JobState": "Completed", "JobStatus": "OK"}, True, True),
        ("a job completed critical", {"JobState": "Completed", "JobStatus": "Critical"},
         True, False),
        ("a failed job", {"JobState": "Exception"}, True, False),
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


def _message(message_id: str, *args: str) -> dict[str, Any]:
    return {"MessageId": message_id, "Message": "", "MessageArgs": list(args)}


def test_stopping_awaits_a_reset_only_when_the_bmc_asks_for_one() -> None:
    staged = status_from_task({"TaskState": "Stopping", "Messages": [
        _message("Update.1.3.0.AwaitToActivate", "image.iso", "BIOS"),
        _message("Base.1.22.1.ResetRequired", "/redfish/v1/Systems/1", "ForceRestart")]}, 1)
    cancelling = status_from_task({"TaskState": "Stopping", "Messages": [
        _message("TaskEvent.1.0.TaskCancelled", "7")]}, 1)
    completed = status_from_task({"TaskState": "Completed", "Messages": [
        _message("Base.1.22.1.ResetRequired", "/redfish/v1/Systems/1", "ForceRestart")]}, 1)
    assert staged.awaits_reset and not staged.finished
    assert not cancelling.awaits_reset and not completed.awaits_reset


@pytest.mark.parametrize(
    ("description", "messages", "job"),
    [
        ("a path", [_message("Update.1.3.0.OperationTransitionedToJob",
                             "/redfish/v1/JobService/Jobs/JID_1")],
         "/redfish/v1/JobService/Jobs/JID_1"),
        ("an absolute URI", [_message("Update.1.0.OperationTransitionedToJob",
                                      "https://bmc.example:443/redfish/v1/JobService/Jobs/3")],
         "/redfish/v1/JobService/Jobs/3"),
        ("no argument", [_message("Update.1.3.0.OperationTransitionedToJob")], None),
        ("another message", [_message("Update.1.3.0.UpdateSuccessful", "BIOS", "x")], None),
        ("no messages", [], None),
    ],
)
def test_the_job_an_update_moved_to(description: str, messages: list[dict[str, Any]],
                                    job: str | None) -> None:
    assert transitioned_job({"TaskState": "Completed", "Messages": messages}) == job


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
