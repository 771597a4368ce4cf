"""What gateway/cim/pywbem_export.py relies on in pywbem, checked against the installed
release. A failure here means a pywbem upgrade changed a private entry point: read the
new release's listener before widening the pin in pyproject.toml."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import pytest
import pywbem
from packaging.specifiers import SpecifierSet
from pywbem import CIMInstance

from gateway.cim import pywbem_export
from gateway.cim.pywbem_export import (
    ExportParseError,
    parse_export_request,
    reject_xml_declarations,
)
from tests.unit.gateway.cim.cimxml import export_request, update_properties

PYPROJECT = Path(__file__).resolve().parents[4] / "pyproject.toml"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0">
<SIMPLEEXPREQ><EXPMETHODCALL NAME="ExportIndication"><EXPPARAMVALUE NAME="NewIndication">
<INSTANCE CLASSNAME="CIM_AlertIndication"><PROPERTY NAME="Description" TYPE="string">
<VALUE>&lol9;</VALUE></PROPERTY></INSTANCE></EXPPARAMVALUE></EXPMETHODCALL>
</SIMPLEEXPREQ></MESSAGE></CIM>
"""


def test_installed_pywbem_is_inside_the_pinned_range_and_the_pin_matches() -> None:
    pin = next(d for d in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
               if d.startswith("pywbem"))
    assert SpecifierSet(pin.removeprefix("pywbem")) == SpecifierSet(
        pywbem_export.SUPPORTED_PYWBEM)
    assert pywbem.__version__ in SpecifierSet(pywbem_export.SUPPORTED_PYWBEM), (
        f"pywbem {pywbem.__version__} is outside {pywbem_export.SUPPORTED_PYWBEM}: check "
        "gateway/cim/pywbem_export.py against it before widening the pin")


def test_the_private_parser_is_still_a_one_argument_static_method() -> None:
    from pywbem._listener import ListenerRequestHandler

    raw = inspect.getattr_static(ListenerRequestHandler, "parse_export_request")
    assert isinstance(raw, staticmethod)
    assert list(inspect.signature(raw.__func__).parameters) == ["request_str"]


def test_a_good_export_request_parses_into_public_value_types() -> None:
    body = export_request(update_properties(uri="http://x/y.iso", identifier="id-7"),
                          msg_id="42")
    export = parse_export_request(body)
    assert (export.message_id, export.method) == ("42", "ExportIndication")
    assert list(export.params) == ["NewIndication"]
    instance = export.params["NewIndication"]
    assert isinstance(instance, CIMInstance)
    assert instance.classname == "CIM_AlertIndication"
    assert instance.properties["IndicationIdentifier"].value == "id-7"  # case-insensitive
    assert instance.properties["MessageArguments"].is_array


@pytest.mark.parametrize(("body", "cim_error"), [
    (export_request(update_properties(uri="u"), dtd_version="3.0"), "unsupported-dtd-version"),
    (export_request(update_properties(uri="u"), protocol_version="2.0"),
     "unsupported-protocol-version"),
    (export_request(update_properties(uri="u"), cim_version="3.0"), "unsupported-version"),
    (b"<CIM><MESSAGE>", "request-not-well-formed"),
    (b"<?xml version='1.0'?><html/>", "request-not-well-formed"),
    (b"<?xml version='1.0' encoding='tf-8'?><CIM/>", "request-not-well-formed"),
])
def test_refused_bodies_map_to_dsp0200_cim_errors(body: bytes, cim_error: str) -> None:
    with pytest.raises(ExportParseError) as caught:
        parse_export_request(body)
    assert caught.value.cim_error == cim_error


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS,
    b'<?xml version="1.0"?><!DOCTYPE CIM SYSTEM "http://127.0.0.1:9/cim.dtd"><CIM/>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
])
def test_dtds_and_entities_are_refused_before_any_expansion(body: bytes) -> None:
    with pytest.raises(ExportParseError) as caught:
        reject_xml_declarations(body)
    assert caught.value.cim_error == "request-not-well-formed"
    assert "not accepted" in str(caught.value)


def test_bodies_without_declarations_pass_the_check_unchanged() -> None:
    reject_xml_declarations(export_request(update_properties(uri="u")))
    reject_xml_declarations(b"<CIM><MESSAGE>")  # not well-formed: pywbem names it
