"""Bad requests get Redfish error bodies with Base registry messages and a 4xx,
never a 500 or a traceback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.emulator.conftest import http

SYSTEM = "/redfish/v1/Systems/1"
RESET = f"{SYSTEM}/Actions/ComputerSystem.Reset"
UPDATE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
INSERT = "/redfish/v1/Managers/1/VirtualMedia/CD/Actions/VirtualMedia.InsertMedia"

CASES = [
    ("malformed JSON", "POST", RESET, b"{not json", 400, "MalformedJSON"),
    ("JSON that is not an object", "POST", RESET, b"[1, 2]", 400, "MalformedJSON"),
    ("empty body", "POST", RESET, b"", 400, "MalformedJSON"),
    ("missing parameter", "POST", RESET, b"{}", 400, "ActionParameterMissing"),
    ("wrong parameter type", "POST", RESET, b'{"ResetType": 3}', 400,
     "ActionParameterValueTypeError"),
    ("value not allowed", "POST", RESET, b'{"ResetType": "Explode"}', 400,
     "ActionParameterValueNotInList"),
    ("unknown parameter", "POST", RESET, b'{"ResetType": "On", "Now": true}', 400,
     "ActionParameterUnknown"),
    ("unknown action", "POST", f"{SYSTEM}/Actions/ComputerSystem.Teleport", b"{}", 400,
     "ActionNotSupported"),
    ("unknown property", "PATCH", SYSTEM, b'{"Colour": "red"}', 400, "PropertyUnknown"),
    ("read-only property", "PATCH", SYSTEM, b'{"PowerState": "Off"}', 400,
     "PropertyNotWritable"),
    ("wrong property type", "PATCH", SYSTEM, b'{"Boot": {"BootSourceOverrideTarget": 1}}',
     400, "PropertyValueTypeError"),
    ("boot target not allowed", "PATCH", SYSTEM,
     b'{"Boot": {"BootSourceOverrideTarget": "Floppy"}}', 400, "PropertyValueNotInList"),
    ("image URI not a URL", "POST", UPDATE, b'{"ImageURI": "/etc/passwd"}', 400,
     "ActionParameterValueFormatError"),
    ("unknown update target", "POST", UPDATE,
     b'{"ImageURI": "http://127.0.0.1:9/b.iso", "Targets": ["/redfish/v1/Nope"]}', 400,
     "ActionParameterValueNotInList"),
    ("media image not http", "POST", INSERT, b'{"Image": "nfs://host/x.iso"}', 400,
     "ActionParameterValueFormatError"),
    ("session timeout out of range", "PATCH", "/redfish/v1/SessionService",
     b'{"SessionTimeout": 5}', 400, "PropertyValueOutOfRange"),
    ("session timeout not a number", "PATCH", "/redfish/v1/SessionService",
     b'{"SessionTimeout": "long"}', 400, "PropertyValueTypeError"),
    ("unknown resource", "GET", "/redfish/v1/Systems/2", None, 404, "ResourceNotFound"),
    ("method not allowed", "DELETE", SYSTEM, None, 405, "OperationNotAllowed"),
    ("post on a read-only resource", "POST", "/redfish/v1/Chassis/1", b"{}", 405,
     "OperationNotAllowed"),
]


@pytest.mark.parametrize(("description", "method", "path", "body", "status", "message"), CASES)
def test_refusal(node: dict[str, str], description: str, method: str, path: str,
                 body: bytes | None, status: int, message: str) -> None:
    response = http(node).request(method, node["url"] + path, data=body,
                                  headers={"Content-Type": "application/json"})
    assert response.status_code == status, description
    error = response.json()["error"]
    info = error["@Message.ExtendedInfo"][0]
    assert info["MessageId"].startswith("Base.1.") and info["MessageId"].endswith(message)
    assert error["code"] == info["MessageId"] and error["message"] == info["Message"]
    assert "Traceback" not in response.text


def test_oversized_upload_is_refused_with_413(cluster_factory: Any) -> None:
    cluster = cluster_factory(max_image_bytes=64 << 10)
    node = cluster.inventory[0]
    response = http(node).post(
        node["url"] + "/redfish/v1/UpdateService/upload",
        files={"UpdateFile": ("big.iso", b"\0" * (2 << 20), "application/octet-stream")},
    )
    assert response.status_code == 413
    info = response.json()["error"]["@Message.ExtendedInfo"][0]
    assert info["MessageId"].endswith("PayloadTooLarge")
    assert http(node).get(node["url"] + "/redfish/v1/TaskService/Tasks").json()[
        "Members"] == []


def test_upload_without_a_file_is_refused(node: dict[str, str]) -> None:
    response = http(node).post(node["url"] + "/redfish/v1/UpdateService/upload",
                               files={"UpdateParameters": (None, "{}", "application/json")})
    assert response.status_code == 400
    assert response.json()["error"]["code"].endswith("ActionParameterMissing")


def test_nothing_half_written_after_a_refused_patch(node: dict[str, str]) -> None:
    session = http(node)
    bad = {"Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Twice"}}
    assert session.patch(node["url"] + SYSTEM, json=bad).status_code == 400
    boot = session.get(node["url"] + SYSTEM).json()["Boot"]
    assert boot["BootSourceOverrideTarget"] == "None"


def test_a_host_backend_failure_is_a_503_not_a_500(cluster: Any, node: dict[str, str]) -> None:
    bmc = cluster.bmc(node["id"])
    bmc.backend.remove_host(bmc.host)  # the domain disappears under the BMC
    response = http(node).get(node["url"] + SYSTEM)
    assert response.status_code == 503 and response.headers["Retry-After"] == "10"
    assert response.json()["error"]["code"].endswith("ServiceTemporarilyUnavailable")
    assert "libvirt" not in response.text
