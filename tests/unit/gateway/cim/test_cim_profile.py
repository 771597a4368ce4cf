"""Reading the update alert profile out of a CIM_AlertIndication instance."""

from __future__ import annotations

from typing import Any

import pytest
from pywbem import CIMDateTime, CIMInstance, CIMProperty, Uint16, Uint32

from gateway.cim.profile import parse_indication
from gateway.intake.alerts import ImageWithdrawn, NotAnUpdateAlert, UpdateAvailable
from gateway.intake.errors import AlertFormatError

SHA = "d" * 64
URI = "https://updates.acme.example/fleet/q4.iso"


def _properties(**overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "IndicationIdentifier": "id-1",
        "IndicationTime": CIMDateTime("20261125101500.000000+000"),
        "AlertType": Uint16(1),
        "OtherAlertType": "FirmwareUpdateAvailable",
        "PerceivedSeverity": Uint16(2),
        "OwningEntity": "FLEETFLASH",
        "MessageID": "FWUP0001",
        "MessageArguments": CIMProperty("MessageArguments", [URI, SHA, "b-1", "2026.Q4"],
                                        type="string", is_array=True),
        "Description": "BMC and BIOS for R450",
    }
    for name, value in overrides.items():
        if value is None:
            props.pop(name, None)
        else:
            props[name] = value
    return props


def _instance(classname: str = "CIM_AlertIndication", **overrides: Any) -> CIMInstance:
    return CIMInstance(classname, properties=_properties(**overrides))


def test_update_available_is_read_from_standard_properties() -> None:
    alert = parse_indication(_instance())
    assert isinstance(alert, UpdateAvailable)
    assert (alert.image_uri, alert.image_sha256, alert.bundle_id, alert.release) == (
        URI, SHA, "b-1", "2026.Q4")
    assert alert.indication_identifier == "id-1" and alert.description.startswith("BMC")


def test_class_name_is_case_insensitive() -> None:
    assert isinstance(parse_indication(_instance("cim_alertindication")), UpdateAvailable)


def test_withdrawal_is_read() -> None:
    alert = parse_indication(_instance(MessageID="FWUP0002", MessageArguments=CIMProperty(
        "MessageArguments", ["b-1", SHA], type="string", is_array=True)))
    assert isinstance(alert, ImageWithdrawn) and alert.image_sha256 == SHA


@pytest.mark.parametrize(("description", "classname", "overrides"), [
    ("another class", "CIM_InstModification", {}),
    ("another MessageID", "CIM_AlertIndication", {"MessageID": "PLAT0042"}),
    ("no MessageID", "CIM_AlertIndication", {"MessageID": None}),
])
def test_foreign_indications_are_not_update_alerts(description: str, classname: str,
                                                   overrides: dict[str, Any]) -> None:
    result = parse_indication(_instance(classname, **overrides))
    assert isinstance(result, NotAnUpdateAlert) and result.why


BAD = [
    ("missing IndicationIdentifier", {"IndicationIdentifier": None}, "IndicationIdentifier"),
    ("missing OwningEntity", {"OwningEntity": None}, "OwningEntity is missing"),
    ("missing MessageArguments", {"MessageArguments": None}, "MessageArguments is missing"),
    ("MessageArguments not an array", {"MessageArguments": "x"}, r"string\[\]"),
    ("AlertType mistyped", {"AlertType": Uint32(1)}, "AlertType must be uint16"),
    ("AlertType wrong value", {"AlertType": Uint16(3)}, "AlertType must be 1"),
    ("severity wrong", {"PerceivedSeverity": Uint16(6)}, "PerceivedSeverity"),
    ("OtherAlertType wrong", {"OtherAlertType": "Something"}, "OtherAlertType"),
    ("MessageID mistyped", {"MessageID": Uint16(1)}, "MessageID must be string"),
    ("IndicationIdentifier mistyped", {"IndicationIdentifier": Uint32(7)}, "must be string"),
    ("IndicationTime mistyped", {"IndicationTime": "yesterday"}, "IndicationTime"),
    ("NULL inside MessageArguments", {"MessageArguments": CIMProperty(
        "MessageArguments", [URI, None, "b", "r"], type="string", is_array=True)}, "NULL"),
    ("bad digest", {"MessageArguments": CIMProperty(
        "MessageArguments", [URI, "xyz", "b", "r"], type="string", is_array=True)},
     "ImageSHA256"),
    ("file scheme", {"MessageArguments": CIMProperty(
        "MessageArguments", ["file:///x.iso", SHA, "b", "r"], type="string", is_array=True)},
     "scheme"),
]


@pytest.mark.parametrize(("description", "overrides", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_update_alerts_are_refused(description: str, overrides: dict[str, Any],
                                             message: str) -> None:
    with pytest.raises(AlertFormatError, match=message):
        parse_indication(_instance(**overrides))
