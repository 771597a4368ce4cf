"""Checks around h11 that a server has to make itself.

h11 accepts some requests RFC 9112 lets a server refuse, and ambiguous
framing is how requests are smuggled past a proxy; a TLS handshake on a
plain-HTTP port is not HTTP at all. emulator/server/connection.py refuses
all of these with 400 and closes the connection.
"""

from __future__ import annotations

import http
import re

HEAD_END = re.compile(rb"\n\r?\n")  # the blank line h11 ends a request head at


def looks_like_tls(data: bytes) -> bool:
    """A TLS record starts with content type 0x16 (handshake); no HTTP request line can."""
    return data[:1] == b"\x16"


def head_problem(head: bytes) -> str | None:
    """What makes this request head's framing ambiguous, or None.

    h11 accepts these (it unfolds obs-fold, merges equal Content-Lengths and
    lets Transfer-Encoding win over Content-Length); we refuse them.
    """
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
