"""Checks around h11 that a server has to make itself.

h11 accepts some requests RFC 9112 lets a server refuse, and ambiguous
framing is how requests are smuggled past a proxy; a TLS handshake on a
plain-HTTP port is not HTTP at all. emulator/server/connection.py refuses
all of these with 400 and closes the connection.

Response header fields are checked here too, once per distinct field rather
than by h11 on every response: most fields of an answer (Content-Type,
OData-Version, Allow, Link ...) repeat, and h11's per-field checks were a
tenth of the event loop's time per GET (profiled with bench/emulator_scale.py).
"""

from __future__ import annotations

import email.utils
import http
import re
import time

import h11
from h11._headers import Headers  # h11 is pinned to a minor version in pyproject.toml

HEAD_END = re.compile(rb"\n\r?\n")  # the blank line h11 ends a request head at
# The field grammar h11 enforces on what it sends (RFC 9110 5.1 and 5.5, with
# h11's leniency for control characters other than NUL and whitespace).
_FIELD_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE = re.compile(rb"([^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
REASON = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")  # RFC 9112 reason-phrase
_HOP_BY_HOP = frozenset({"connection", "transfer-encoding", "keep-alive"})
# Responses that never carry a body, whatever the app wrote (RFC 9110 6.4.1).
BODYLESS = frozenset({204, 304})
_LENGTH = re.compile(rb"[0-9]{1,20}")  # h11's Content-Length (at most 20 digits)
# Checked fields as h11 keeps them: (name as sent, lower-case name, value).
_checked: dict[tuple[str, str], tuple[bytes, bytes, bytes]] = {}
_statuses: dict[str, tuple[int, bytes]] = {}
_MAX_CHECKED = 4096  # ETags differ per body: remember the first fields seen, then stop


def looks_like_tls(data: bytes) -> bool:
    """A TLS record starts with content type 0x16 (handshake); no HTTP request line can."""
    return data[:1] == b"\x16"


def head_problem(head: bytes) -> str | None:
    """What makes this request head's framing ambiguous, or None.

    h11 accepts these (it unfolds obs-fold, merges equal Content-Lengths and
    lets Transfer-Encoding win over Content-Length); we refuse them.
    """
    if b"\n " in head or b"\n\t" in head:
        return "obsolete line folding in the request headers"
    lowered = head.lower()
    if b"content-length" not in lowered and b"transfer-encoding" not in lowered:
        return None  # nearly every GET
    lengths = 0
    chunked = False
    for line in head.split(b"\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            return "obsolete line folding in the request headers"
        name = line.partition(b":")[0].strip().lower()
        if name == b"content-length":
            lengths += 1 + line.count(b",")
        elif name == b"transfer-encoding":
            chunked = True
    if lengths > 1:
        return "more than one Content-Length"
    if lengths and chunked:
        return "both Content-Length and Transfer-Encoding"
    return None


def reason_phrase(code: int) -> str:
    """The standard reason phrase for a status code ("" for an unknown one)."""
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def status_line(status: str) -> tuple[int, bytes]:
    """A WSGI status ("200 OK") as h11 takes it: the code and a valid reason phrase
    (the standard one where the app's is empty or not allowed).

    h11.LocalProtocolError if it does not start with a status code.
    """
    found = _statuses.get(status)
    if found is None:
        if not status[:3].isdigit() or not status[:3].isascii():
            raise h11.LocalProtocolError(f"bad WSGI status {status!r}")
        code = int(status[:3])
        reason = status[4:].encode("latin-1", "replace")
        if not reason or not REASON.fullmatch(reason):
            reason = reason_phrase(code).encode("ascii")
        found = code, reason
        if len(_statuses) < _MAX_CHECKED:
            _statuses[status] = found
    return found


def response_fields(code: int, headers: list[tuple[str, str]], close: bool) -> Headers:
    """An app's response headers as h11 keeps them, checked as h11 would check them.

    h11 takes a ready ``Headers`` as it is (it normalises and checks a plain
    list again on every response). Drops the hop-by-hop fields h11 sets
    itself (and Content-Length where no body may follow) and adds
    Connection: close when asked. h11.LocalProtocolError for a field h11
    itself would refuse to send.
    """
    fields: list[tuple[bytes, bytes, bytes]] = []
    length: bytes | None = None
    dated = False
    for name, value in headers:
        field = _checked.get((name, value))
        if field is None:
            if name == "Content-Length" and value.isdigit() and value.isascii() \
                    and len(value) <= 20 and code not in BODYLESS:
                field = (b"Content-Length", b"content-length", value.encode("ascii"))
            else:
                field = _check_field(code, name, value)
            if field is None:
                continue
        if field[1] == b"content-length":
            if length is not None:  # as h11: a repeated equal length is dropped
                if field[2] != length:
                    raise h11.LocalProtocolError("conflicting Content-Length headers")
                continue
            length = field[2]
        elif field[1] == b"date":
            dated = True
        fields.append(field)
    if close:
        fields.append((b"Connection", b"connection", b"close"))
    if not dated:
        fields.append((b"Date", b"date", http_date()))
    return Headers(fields)


def _check_field(code: int, name: str, value: str) -> tuple[bytes, bytes, bytes] | None:
    lowered = name.lower()
    if lowered in _HOP_BY_HOP or (lowered == "content-length" and code in BODYLESS):
        return None
    try:
        raw_name, raw_value = name.encode("ascii"), value.encode("ascii")
    except UnicodeEncodeError:
        raise h11.LocalProtocolError(f"header {name!r} is not ASCII") from None
    if not _FIELD_NAME.fullmatch(raw_name) or not _FIELD_VALUE.fullmatch(raw_value):
        raise h11.LocalProtocolError(f"illegal header {name!r}")
    if lowered == "content-length":
        lengths = {part.strip() for part in raw_value.split(b",")}
        raw_value = lengths.pop()
        if lengths or not _LENGTH.fullmatch(raw_value):
            raise h11.LocalProtocolError("bad Content-Length")
        return raw_name, b"content-length", raw_value  # differs per answer: not remembered
    field = raw_name, raw_name.lower(), raw_value
    if len(_checked) < _MAX_CHECKED:
        _checked[(name, value)] = field
    return field


_date: tuple[int, bytes] = (0, b"")


def http_date() -> bytes:
    """Now as an HTTP-date (RFC 9110 6.6.1: an origin server with a clock sends Date;
    clients such as `fleetflash doctor` read clock skew from it), made once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, email.utils.formatdate(now, usegmt=True).encode("ascii"))
    return _date[1]
