"""The one place the gateway touches pywbem beyond its public API.

pywbem (pinned in pyproject.toml) offers no public function that parses a CIM-XML
export request (DSP0200's EXPMETHODCALL) into values: its WBEMListener does it in
the static method ``ListenerRequestHandler.parse_export_request``, which turns the
body into (message id, export method name, {parameter: value}) and raises pywbem's
public exceptions (CIMXMLParseError, XMLParseError, DTDVersionError,
ProtocolVersionError, CIMVersionError) for what it refuses. Everything else the
listener needs is public: CIMInstance and the value types, the CIM_ERR_* codes and
the exceptions. tests/unit/gateway/cim/test_cim_pywbem_contract.py fails loudly if a
pywbem release changes what this module relies on.

Bodies reach this module only after `reject_xml_declarations` (defusedxml): a DTD or
entity declaration is refused before pywbem's expat-based parser could expand it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pywbem
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as defused_fromstring
from pywbem._listener import ListenerRequestHandler  # private: see the module docstring

from gateway.intake.errors import IntakeError

SUPPORTED_PYWBEM = ">=1.7,<1.10"  # keep equal to pyproject.toml's pin


class ExportParseError(IntakeError):
    """The body is not an acceptable export request; `cim_error` is the DSP0200
    CIMError header value to answer 400 with."""

    def __init__(self, cim_error: str, message: str) -> None:
        super().__init__(message)
        self.cim_error = cim_error


@dataclass(frozen=True)
class ExportRequest:
    message_id: str
    method: str
    params: dict[str, Any]


def reject_xml_declarations(body: bytes) -> None:
    """ExportParseError for a body with a DTD, entity declaration or external reference.

    defusedxml stops at the declaration, before any expansion, so a billion-laughs
    body costs a parse of its first bytes. Bodies that are merely not well-formed
    pass through: pywbem's own parser then names the problem.
    """
    try:
        defused_fromstring(body, forbid_dtd=True, forbid_entities=True,
                           forbid_external=True)
    except DefusedXmlException as exc:
        raise ExportParseError("request-not-well-formed",
                               f"DTDs and entity declarations are not accepted: "
                               f"{exc.__class__.__name__}") from exc
    except (ParseError, ValueError, LookupError, UnicodeError):
        return


def parse_export_request(body: bytes) -> ExportRequest:
    """The export request in `body`. Raises ExportParseError with DSP0200's CIMError."""
    try:
        message_id, method, params = ListenerRequestHandler.parse_export_request(body)
    except pywbem.DTDVersionError as exc:
        raise ExportParseError("unsupported-dtd-version", str(exc)) from exc
    except pywbem.ProtocolVersionError as exc:
        raise ExportParseError("unsupported-protocol-version", str(exc)) from exc
    except pywbem.CIMVersionError as exc:
        raise ExportParseError("unsupported-version", str(exc)) from exc
    except (pywbem.CIMXMLParseError, pywbem.XMLParseError) as exc:
        raise ExportParseError("request-not-well-formed", str(exc)) from exc
    except (pywbem.Error, ValueError, TypeError, KeyError, IndexError, AttributeError,
            LookupError, OverflowError, UnicodeError, RecursionError) as exc:
        # e.g. LookupError from expat for <?xml encoding="tf-8"?> (found by the fuzz test)
        raise ExportParseError("request-not-well-formed",
                               f"invalid CIM-XML: {exc.__class__.__name__}") from exc
    return ExportRequest(str(message_id), str(method), dict(params))
