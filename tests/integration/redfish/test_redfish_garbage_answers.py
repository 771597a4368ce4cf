"""A BMC that answers nonsense: every read the gateway's steps make (inventory, versions,
task polls, the task list, the UpdateService) ends in a RedfishError naming what the BMC
said (truncated), never in another exception, a hang or a traceback. The BMC is a real
emulated one behind a real loopback proxy that swaps one resource's answer for garbage."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.orchestrator.bmc import FleetBmcClient
from gateway.redfish import BmcEndpoint, TaskRef
from tests.support.garbage_proxy import Garbage, GarbageProxy, said_to

INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"
MONITOR = "/redfish/v1/TaskService/TaskMonitors/1"
ANSWERS: dict[str, Callable[[str], Garbage]] = {
    "invalid JSON": lambda p: Garbage(p, 200, b'{"Members": [{"@odata.id": ',
                                      (("Content-Type", "application/json"),)),
    "empty 200": lambda p: Garbage(p, 200, b"", (("Content-Type", "application/json"),)),
    "wrong types": lambda p: Garbage(
        p, 200, b'{"Members": "all of them", "Members@odata.count": "many", "Version": 7,'
                b' "TaskState": 3, "PercentComplete": "lots", "Messages": {"a": 1},'
                b' "Status": "fine", "Links": [], "Actions": [], "@odata.id": 5,'
                b' "Model": ["x"], "PowerState": {"on": true}, "Tasks": 12}',
        (("Content-Type", "application/json"),)),
    "JSON list": lambda p: Garbage(p, 200, b'[1, "two", null]',
                                   (("Content-Type", "application/json"),)),
    "HTML page": lambda p: Garbage(p, 200, b"<html><body>Service temporarily moved"
                                   b"</body></html>", (("Content-Type", "text/html"),)),
    "redirect loop": lambda p: Garbage(p, 302, b"", (("Location", p),)),
}

Operation = Callable[[FleetBmcClient], object]
OPERATIONS: dict[str, tuple[str, Operation]] = {
    "inventory (collection)": (INVENTORY, lambda c: c.inventory()),
    "inventory (member)": (f"{INVENTORY}/BIOS", lambda c: c.inventory()),
    "inventory (system)": ("/redfish/v1/Systems/1", lambda c: c.inventory()),
    "versions (member)": (f"{INVENTORY}/NIC", lambda c: c.component_versions()),
    "task poll": (MONITOR, lambda c: c.task_status(TaskRef(MONITOR, None))),
    "task list": ("/redfish/v1/TaskService/Tasks", lambda c: c.list_tasks()),
    "update service": ("/redfish/v1/UpdateService",
                       lambda c: c.simple_update("http://127.0.0.1:9/image.iso")),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_nonsense_from_the_bmc_is_a_named_redfish_error(
        proxied: tuple[GarbageProxy, BmcEndpoint], operation: str, answer: str) -> None:
    proxy, endpoint = proxied
    path, act = OPERATIONS[operation]
    said = said_to(proxy, endpoint, ANSWERS[answer](path), act)
    assert said, f"{operation} took {answer} for an answer"
    assert len(said) <= 600, said
    assert "Traceback" not in said
    print(said)
