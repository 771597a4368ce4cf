"""Redfish messages worded from the DMTF registries shipped with the emulator.

Message ids are written "<Prefix>.<Key>" (e.g. "Update.UpdateSuccessful"); the
rendered MessageId carries the registry version as Redfish requires
("Update.1.3.0.UpdateSuccessful").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from emulator.errors import EmulatorError

REGISTRY_FILES = {
    "Base": "Base.1.22.1.json",
    "Update": "Update.1.3.0.json",
    "TaskEvent": "TaskEvent.1.0.5.json",
    "ResourceEvent": "ResourceEvent.1.4.3.json",
}


@dataclass(frozen=True)
class Registry:
    prefix: str
    version: str
    file_name: str
    document: dict[str, Any]


@cache
def registry(prefix: str) -> Registry:
    """The registry for a prefix ("Base", "Update", ...); EmulatorError if unknown."""
    file_name = REGISTRY_FILES.get(prefix)
    if file_name is None:
        raise EmulatorError(f"unknown message registry {prefix!r}")
    folder = resources.files("emulator.redfish").joinpath("registry_files")
    text = folder.joinpath(file_name).read_text(encoding="utf-8")
    document = json.loads(text)
    return Registry(prefix, str(document["RegistryVersion"]), file_name, document)


def message(message_id: str, *args: object, **extra: Any) -> dict[str, Any]:
    """A Message object (Message_v1) for "<Prefix>.<Key>" with its %n arguments filled.

    Raises EmulatorError for an unknown id or a wrong argument count (a bug in
    the caller, caught by tests).
    """
    prefix, _, key = message_id.partition(".")
    reg = registry(prefix)
    entry = reg.document["Messages"].get(key)
    if entry is None:
        raise EmulatorError(f"unknown message {message_id!r}")
    text_args = [str(arg) for arg in args]
    if len(text_args) != int(entry["NumberOfArgs"]):
        raise EmulatorError(f"{message_id} takes {entry['NumberOfArgs']} arguments")
    text = str(entry["Message"])
    # Replace %10 before %1 so multi-digit placeholders survive.
    for index in range(len(text_args), 0, -1):
        text = text.replace(f"%{index}", text_args[index - 1])
    rendered: dict[str, Any] = {
        "MessageId": f"{prefix}.{reg.version}.{key}",
        "Message": text,
        "MessageArgs": text_args,
        "MessageSeverity": entry.get("MessageSeverity", "OK"),
        "Resolution": entry.get("Resolution", "None."),
    }
    rendered.update(extra)
    return rendered
