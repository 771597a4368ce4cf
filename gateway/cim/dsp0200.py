"""DSP0200 (CIM operations over HTTP) as the listener speaks it: header checks and
responses, without the HTTP server (that is the front door's).

An HTTP-level refusal is a status with CIMExport: MethodResponse, CIMError and
CIMErrorDetails headers and an empty body; a CIM-level answer is HTTP 200 with a
SIMPLEEXPRSP message, carrying an ERROR element when the export was refused.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

# What the listener implements, returned in its responses (DSP0201 / DSP0200 1.4).
CIM_VERSION = "2.0"
DTD_VERSION = "2.4"
PROTOCOL_VERSION = "1.4"
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_TOKEN_Q = re.compile(r"\s*([^;,\s]+)(?:\s*;[^,]*)?")
_MEDIA_CHARSET = re.compile(r'^\s*([^;,\s]+)\s*(?:;\s*charset\s*=\s*"?([^";,\s]*)"?\s*)?$',
                            re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    """One HTTP response of the listener."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def status_line(self) -> str:
        return f"{self.status} {http.client.responses.get(self.status, 'Error')}"


def header_safe(text: str, limit: int = 200) -> str:
    """Text fit for an HTTP header: printable ASCII only, so input cannot split the response."""
    return _UNPRINTABLE.sub("?", text)[:limit]


def http_error(status: int, cim_error: str | None, details: str,
               extra: list[tuple[str, str]] | None = None) -> Answer:
    headers = [("CIMExport", "MethodResponse")]
    if cim_error is not None:
        headers.append(("CIMError", cim_error))
    if details:
        headers.append(("CIMErrorDetails", header_safe(details)))
    return Answer(status, [*headers, *(extra or [])])


def _message(message_id: str, response: str) -> bytes:
    text = (f'<?xml version="1.0" encoding="utf-8" ?>\n'
            f'<CIM CIMVERSION="{CIM_VERSION}" DTDVERSION="{DTD_VERSION}">'
            f'<MESSAGE ID={quoteattr(message_id)} PROTOCOLVERSION="{PROTOCOL_VERSION}">'
            f'<SIMPLEEXPRSP>{response}</SIMPLEEXPRSP></MESSAGE></CIM>')
    return text.encode("utf-8")


def _xml_answer(body: bytes) -> Answer:
    return Answer(200, [("Content-Type", "text/xml"), ("CIMExport", "MethodResponse")], body)


def success(message_id: str, method: str) -> Answer:
    return _xml_answer(_message(message_id, f"<EXPMETHODRESPONSE NAME={quoteattr(method)}/>"))


def cim_error(message_id: str, method: str, code: int, description: str) -> Answer:
    error = f"<ERROR CODE=\"{int(code)}\" DESCRIPTION={quoteattr(description)}/>"
    return _xml_answer(_message(
        message_id, f"<EXPMETHODRESPONSE NAME={quoteattr(method)}>{error}</EXPMETHODRESPONSE>"))


def check_content_headers(headers: Mapping[str, str]) -> str | None:
    """DSP0200's Accept*, Content-Type and Content-Encoding rules for an export request;
    the reason to answer 406 header-mismatch, or None. `headers` keys are lower-case."""
    accept = headers.get("accept", "text/xml")
    if accept not in ("text/xml", "application/xml", "*/*"):
        return f"invalid Accept header value {accept!r} (need text/xml, application/xml or */*)"
    charsets = [m.group(1).lower() for m in _TOKEN_Q.finditer(headers.get("accept-charset",
                                                                          "UTF-8"))]
    if not any(c in ("utf-8", "*") for c in charsets):
        return "invalid Accept-Charset header value (need UTF-8 or *)"
    if "accept-range" in headers:
        return "Accept-Range header is not permitted"
    content_type = headers.get("content-type")
    if content_type is None:
        return "Content-Type header is required"
    match = _MEDIA_CHARSET.match(content_type)
    if (match is None or match.group(1).lower() not in ("text/xml", "application/xml")
            or (match.group(2) or "utf-8").lower() != "utf-8"):
        return (f"invalid Content-Type header value {content_type!r} (need text/xml or "
                "application/xml with charset=utf-8 or none)")
    if headers.get("content-encoding", "identity").lower() != "identity":
        return "invalid Content-Encoding header value (only identity is supported)"
    return None
