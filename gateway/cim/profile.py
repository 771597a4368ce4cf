"""Read the fleetflash update alert profile out of a received CIM indication.

The indication is a standard CIM_AlertIndication (ALERT-PROFILE.md): the data
travels in OwningEntity, MessageID and MessageArguments. Property names are
matched case-insensitively in any order (pywbem's CIMInstance does that),
and qualifiers or namespaces that senders add are ignored. Another class or
MessageID is not ours: `parse_indication` returns NotAnUpdateAlert. A
CIM_AlertIndication with an FWUP MessageID but missing or mistyped
properties raises AlertFormatError.
"""

from __future__ import annotations

from typing import Any

from pywbem import CIMInstance

from gateway.intake.alerts import (
    MSG_IMAGE_WITHDRAWN,
    MSG_UPDATE_AVAILABLE,
    NotAnUpdateAlert,
    UpdateAlert,
    image_withdrawn,
    update_available,
)
from gateway.intake.errors import AlertFormatError

ALERT_CLASS = "CIM_AlertIndication"
ALERT_TYPE_OTHER = 1
OTHER_ALERT_TYPE = "FirmwareUpdateAvailable"
SEVERITY_INFORMATION = 2
ELEMENT_FORMAT_OBJECT_PATH = 2
_UINTS = ("uint8", "uint16", "uint32", "uint64")


def _prop(instance: CIMInstance, name: str, cim_type: str | tuple[str, ...], *,
          array: bool = False, required: bool = True) -> Any:
    """A property's value after checking its declared CIM type and arrayness."""
    prop = instance.properties.get(name)
    if prop is None or prop.value is None:
        if required:
            raise AlertFormatError(f"{name} is missing")
        return None
    types = (cim_type,) if isinstance(cim_type, str) else cim_type
    if prop.type not in types or bool(prop.is_array) != array:
        wanted = f"{'/'.join(types)}{'[]' if array else ''}"
        got = f"{prop.type}{'[]' if prop.is_array else ''}"
        raise AlertFormatError(f"{name} must be {wanted}, got {got}")
    return prop.value


def _fixed(instance: CIMInstance, name: str, expected: int | str, cim_type: str | tuple[str, ...],
           *, required: bool = True) -> None:
    value = _prop(instance, name, cim_type, required=required)
    if value is not None and value != expected:
        raise AlertFormatError(f"{name} must be {expected!r}, got {str(value)[:64]!r}")


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_indication(instance: CIMInstance) -> UpdateAlert | NotAnUpdateAlert:
    """Turn a received indication into an update alert, or say why it is not one."""
    classname = str(instance.classname)
    identifier = instance.properties.get("IndicationIdentifier")
    identifier_text = (str(identifier.value)[:256]
                       if identifier is not None and isinstance(identifier.value, str) else None)
    message = instance.properties.get("MessageID")
    message_id = (str(message.value)[:64]
                  if message is not None and isinstance(message.value, str) else None)
    if classname.lower() != ALERT_CLASS.lower():
        return NotAnUpdateAlert(classname[:128], message_id, identifier_text,
                                f"class {classname[:128]} is not {ALERT_CLASS}")
    if message is not None and message.value is not None:
        _prop(instance, "MessageID", "string")  # a mistyped MessageID is malformed, not foreign
    if message_id not in (MSG_UPDATE_AVAILABLE, MSG_IMAGE_WITHDRAWN):
        return NotAnUpdateAlert(classname, message_id, identifier_text,
                                f"MessageID {message_id!r} is not FWUP0001 or FWUP0002")

    _fixed(instance, "AlertType", ALERT_TYPE_OTHER, "uint16")
    _fixed(instance, "OtherAlertType", OTHER_ALERT_TYPE, "string")
    _fixed(instance, "PerceivedSeverity", SEVERITY_INFORMATION, "uint16")
    _fixed(instance, "AlertingElementFormat", ELEMENT_FORMAT_OBJECT_PATH, "uint16",
           required=False)
    indication_identifier = _prop(instance, "IndicationIdentifier", "string")
    owning_entity = _prop(instance, "OwningEntity", "string")
    arguments = _prop(instance, "MessageArguments", "string", array=True)
    if any(not isinstance(a, str) for a in arguments):
        raise AlertFormatError("MessageArguments entries must all be strings (no NULL)")
    description = _prop(instance, "Description", "string", required=False)
    time = _str_or_none(_prop(instance, "IndicationTime", "datetime", required=False))
    if message_id == MSG_UPDATE_AVAILABLE:
        return update_available(
            indication_identifier=indication_identifier, owning_entity=owning_entity,
            arguments=list(arguments), description=description, indication_time=time,
            alerting_element=_prop(instance, "AlertingManagedElement", "string", required=False),
            system_name=_prop(instance, "SystemName", "string", required=False),
        )
    return image_withdrawn(
        indication_identifier=indication_identifier, owning_entity=owning_entity,
        arguments=list(arguments), description=description, indication_time=time,
    )
