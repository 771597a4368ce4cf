"""The strict request-head parser: what it accepts and the status for what it refuses."""

from __future__ import annotations

import pytest

from gateway.frontdoor.http1 import MAX_HEADER_FIELDS, HttpError, parse_request_head


def _head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_media_http_parses_a_normal_request() -> None:
    request = parse_request_head(_head("GET /media/t/x.iso?a=1 HTTP/1.1", "Host: gw",
                                       "Range: bytes=0-1", "range: bytes=2-3"))
    assert request.method == "GET" and request.path == "/media/t/x.iso"
    assert request.headers["range"] == ["bytes=0-1", "bytes=2-3"]
    assert request.keep_alive


@pytest.mark.parametrize(("lines", "keep_alive"), [
    (("GET / HTTP/1.1", "Host: a", "Connection: close"), False),
    (("GET / HTTP/1.1", "Host: a", "Connection: foo, Close"), False),
    (("GET / HTTP/1.0",), False),
    (("GET / HTTP/1.0", "Connection: keep-alive"), True),
])
def test_media_http_keep_alive(lines: tuple[str, ...], keep_alive: bool) -> None:
    assert parse_request_head(_head(*lines)).keep_alive is keep_alive


BAD_HEADS = [
    ("missing version", _head("GET /"), 400),
    ("extra space", _head("GET  / HTTP/1.1", "Host: a"), 400),
    ("HTTP/2.0", _head("GET / HTTP/2.0", "Host: a"), 505),
    ("lowercase version", _head("GET / http/1.1", "Host: a"), 400),
    ("absolute-form target", _head("GET http://x/ HTTP/1.1", "Host: a"), 400),
    ("asterisk target", _head("OPTIONS * HTTP/1.1", "Host: a"), 400),
    ("non-token method", _head("G(T / HTTP/1.1", "Host: a"), 400),
    ("no Host on HTTP/1.1", _head("GET / HTTP/1.1"), 400),
    ("two Host fields", _head("GET / HTTP/1.1", "Host: a", "Host: b"), 400),
    ("space before colon", _head("GET / HTTP/1.1", "Host : a"), 400),
    ("obsolete folding", _head("GET / HTTP/1.1", "Host: a", "X: 1", " folded"), 400),
    ("control char in value", _head("GET / HTTP/1.1", "Host: a", "X: a\x01b"), 400),
    ("request body by length", _head("GET / HTTP/1.1", "Host: a", "Content-Length: 5"), 400),
    ("chunked body", _head("GET / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"), 400),
    ("bare LF", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("too many fields", _head("GET / HTTP/1.1", "Host: a",
                              *[f"X-{i}: y" for i in range(MAX_HEADER_FIELDS)]), 431),
    ("too large", _head("GET / HTTP/1.1", "Host: a", "X: " + "y" * 20000), 431),
]


@pytest.mark.parametrize(("description", "head", "status"), BAD_HEADS,
                         ids=[c[0] for c in BAD_HEADS])
def test_media_http_refuses_bad_heads(description: str, head: bytes, status: int) -> None:
    with pytest.raises(HttpError) as caught:
        parse_request_head(head)
    assert caught.value.status == status
