"""/redfish/v1/Registries: the message registries this BMC's messages come from."""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.messages import REGISTRY_FILES, registry
from emulator.redfish.common import json_response, not_found
from emulator.redfish.documents import collection

blueprint = Blueprint("registries", __name__)

REGISTRIES_URI = "/redfish/v1/Registries"


@blueprint.get(REGISTRIES_URI)
def registries() -> Response:
    members = [f"{REGISTRIES_URI}/{prefix}" for prefix in REGISTRY_FILES]
    return json_response(
        collection(REGISTRIES_URI, "MessageRegistryFileCollection", "Message Registries",
                   members)
    )


@blueprint.get(f"{REGISTRIES_URI}/<prefix>")
def registry_file(prefix: str) -> Response:
    if prefix not in REGISTRY_FILES:
        raise not_found("MessageRegistryFile", prefix)
    reg = registry(prefix)
    return json_response(
        {
            "@odata.id": f"{REGISTRIES_URI}/{prefix}",
            "@odata.type": "#MessageRegistryFile.v1_1_5.MessageRegistryFile",
            "Id": prefix,
            "Name": f"{prefix} Message Registry File",
            "Registry": f"{prefix}.{reg.version.rsplit('.', 1)[0]}",
            "Languages": ["en"],
            "Location": [
                {"Language": "en", "Uri": f"{REGISTRIES_URI}/{prefix}/{reg.file_name}"}
            ],
        }
    )


@blueprint.get(f"{REGISTRIES_URI}/<prefix>/<file_name>")
def registry_document(prefix: str, file_name: str) -> Response:
    if prefix not in REGISTRY_FILES or REGISTRY_FILES[prefix] != file_name:
        raise not_found("MessageRegistry", file_name)
    return json_response(registry(prefix).document)
