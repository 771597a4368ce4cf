"""LogServices: the manager's event log (Managers/1/LogServices/Log) and the SEL.

Entries come from emulator/logs.py (written with the audit log); ClearLog
empties one log.
"""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import MANAGER_URI, SYSTEM_URI
from emulator.errors import RedfishError
from emulator.logs import MAX_ENTRIES, EventLog, LogEntry
from emulator.redfish.common import (
    bmc,
    check_action,
    existing,
    json_response,
    read_json_optional,
    requires,
)
from emulator.redfish.documents import collection

blueprint = Blueprint("log_service", __name__)

CLEAR_ACTION = "LogService.ClearLog"
# (owner URI, log id) -> (name, LogEntryType, EntryType of its entries, purpose)
LOGS = {
    (MANAGER_URI, "Log"): ("Manager event log", "Event", "Event", "Operations"),
    (SYSTEM_URI, "SEL"): ("System event log", "SEL", "SEL", "Diagnostic"),
}
OWNERS = {"Managers": MANAGER_URI, "Systems": SYSTEM_URI}


def _log(owner: str, log_id: str) -> tuple[str, EventLog]:
    """(log URI, the log) for a URL's owner kind and log id; 404 otherwise."""
    owner_uri = OWNERS[owner]
    if (owner_uri, log_id) not in LOGS:
        raise RedfishError(404, "ResourceNotFound", "LogService", log_id)
    logs = bmc().logs
    return f"{owner_uri}/LogServices/{log_id}", logs.manager if log_id == "Log" else logs.sel


def _entry_document(log_uri: str, entry_type: str, entry: LogEntry) -> dict[str, object]:
    document: dict[str, object] = {
        "@odata.id": f"{log_uri}/Entries/{entry.id}",
        "@odata.type": "#LogEntry.v1_21_0.LogEntry",
        "Id": entry.id,
        "Name": "Log Entry",
        "EntryType": entry_type,
        "Created": entry.created,
        "Severity": entry.severity,
        "Message": entry.message,
        "MessageId": entry.message_id,
        "MessageArgs": list(entry.args),
        "Links": {"OriginOfCondition": {"@odata.id": entry.origin}},
    }
    if entry_type == "SEL":
        document["EntryCode"] = "Assert"
        document["SensorType"] = "System Event"
    return document


@blueprint.get("/redfish/v1/<any(Managers,Systems):owner>/1/LogServices")
def log_services(owner: str) -> Response:
    owner_uri = OWNERS[owner]
    members = [f"{owner_uri}/LogServices/{log_id}" for uri, log_id in LOGS if uri == owner_uri]
    return json_response(collection(f"{owner_uri}/LogServices", "LogServiceCollection",
                                    "Log Services", members))


@blueprint.get("/redfish/v1/<any(Managers,Systems):owner>/1/LogServices/<log_id>")
def log_service(owner: str, log_id: str) -> Response:
    uri, _log_entries = _log(owner, log_id)
    name, log_type, _entry_type, purpose = LOGS[(OWNERS[owner], log_id)]
    clock = bmc().clock
    return json_response(
        {
            "@odata.id": uri,
            "@odata.type": "#LogService.v1_9_0.LogService",
            "Id": log_id,
            "Name": name,
            "LogEntryType": log_type,
            "LogPurposes": [purpose],
            "MaxNumberOfRecords": MAX_ENTRIES,
            "OverWritePolicy": "WrapsWhenFull",
            "DateTime": clock.now(),
            "DateTimeLocalOffset": clock.local_offset,
            "ServiceEnabled": True,
            "Status": {"State": "Enabled", "Health": "OK"},
            "Entries": {"@odata.id": f"{uri}/Entries"},
            "Actions": {f"#{CLEAR_ACTION}": {"target": f"{uri}/Actions/{CLEAR_ACTION}"}},
        }
    )


def _entries_response(owner: str, log_id: str, entries: list[LogEntry]) -> Response:
    uri = f"{OWNERS[owner]}/LogServices/{log_id}"
    entry_type = LOGS[(OWNERS[owner], log_id)][2]
    members = [_entry_document(uri, entry_type, e) for e in entries]
    return json_response(
        {
            "@odata.id": f"{uri}/Entries",
            "@odata.type": "#LogEntryCollection.LogEntryCollection",
            "Name": "Log Entries",
            "Members@odata.count": len(members),
            "Members": members,
        }
    )


@blueprint.get("/redfish/v1/<any(Managers,Systems):owner>/1/LogServices/<log_id>/Entries")
def log_entries(owner: str, log_id: str) -> Response:
    _uri, log = _log(owner, log_id)
    return _entries_response(owner, log_id, log.entries())


@blueprint.get(
    "/redfish/v1/<any(Managers,Systems):owner>/1/LogServices/<log_id>/Entries/<entry_id>")
def log_entry(owner: str, log_id: str, entry_id: str) -> Response:
    uri, log = _log(owner, log_id)
    entry = existing(log.get(entry_id), "LogEntry", entry_id)
    return json_response(_entry_document(uri, LOGS[(OWNERS[owner], log_id)][2], entry))


@blueprint.post(
    f"/redfish/v1/<any(Managers,Systems):owner>/1/LogServices/<log_id>/Actions/{CLEAR_ACTION}")
@requires(Privilege.CONFIGURE_MANAGER)
def clear_log(owner: str, log_id: str) -> Response:
    _uri, log = _log(owner, log_id)
    document = read_json_optional()
    check_action(CLEAR_ACTION, document, {"LogEntriesETag": str})
    wanted = document.get("LogEntriesETag")
    # Clear only what the client has seen: the entries' ETag must still be
    # current (LogService schema: 428 otherwise), and the log unchanged since.
    seen = log.entries()
    if wanted is not None and wanted != _entries_response(owner, log_id, seen).headers["ETag"]:
        raise RedfishError(428, "PreconditionFailed")
    if not log.clear(expected=seen if wanted is not None else None):
        raise RedfishError(428, "PreconditionFailed")
    return json_response(None, 204)

