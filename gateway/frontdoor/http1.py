"""A strict, bounded HTTP/1.1 request-head parser and response-head writer.

Why our own HTTP and not WSGI: the media server's whole job is pushing large
files to hundreds of slow readers at once. WSGI servers give each reader a
thread and copy every byte through Python; asyncio lets one thread drive every
connection and hand the bytes to the kernel with sendfile(2), so memory stays
flat however many readers or however large the image. The price is owning the
parser, so it accepts only what the media server needs and rejects the rest
(RFC 9112): GET/HEAD heads of at most MAX_HEAD_BYTES and MAX_HEADER_FIELDS
fields, CRLF line endings, no obsolete line folding, no request bodies (so no
request smuggling through Content-Length / Transfer-Encoding disagreements).
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate

from gateway.frontdoor.errors import FrontDoorError

MAX_HEAD_BYTES = 16 * 1024
MAX_HEADER_FIELDS = 100
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TARGET = re.compile(r"^/[\x21-\x7e]*$")
_BAD_VALUE_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,18}")
REASONS = {
    200: "OK", 204: "No Content", 206: "Partial Content", 304: "Not Modified",
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 411: "Length Required", 412: "Precondition Failed",
    413: "Content Too Large", 416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
}


class HttpError(FrontDoorError):
    """The request cannot be served; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    """A parsed request head. Header names are lower-case; values keep their order."""

    method: str
    path: str
    version: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    query: str = ""

    @property
    def keep_alive(self) -> bool:
        values = self.headers.get("connection", [])
        tokens = {t.strip().lower() for v in values for t in v.split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


def parse_request_head(head: bytes, *, bodies: bool = False,
                       chunked: bool = False) -> Request:
    """Parse bytes up to and including the blank line ending the head.

    `bodies`: accept a request body announced by Content-Length (ASCII digits only,
    one value; see `content_length`); `chunked`: also ``Transfer-Encoding: chunked``
    (alone: with Content-Length too it is 400, the request-smuggling pattern). Other
    Transfer-Encodings are refused with 411.
    Raises HttpError(400/411/431/501/505) naming the first problem found.
    """
    if len(head) > MAX_HEAD_BYTES:
        raise HttpError(431, "request head too large")
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # latin-1 decodes every byte; kept for clarity
        raise HttpError(400, "request head is not text") from exc
    if not text.endswith("\r\n\r\n"):
        raise HttpError(400, "request head must end with CRLF CRLF")
    lines = text[:-4].split("\r\n")
    method, target, version = _request_line(lines[0])
    if len(lines) - 1 > MAX_HEADER_FIELDS:
        raise HttpError(431, f"more than {MAX_HEADER_FIELDS} header fields")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, value = _field_line(line)
        headers.setdefault(name, []).append(value)
    if version == "HTTP/1.1" and len(headers.get("host", [])) != 1:
        raise HttpError(400, "HTTP/1.1 request needs exactly one Host header")
    lengths = headers.get("content-length", [])
    if "transfer-encoding" in headers:
        codings = ",".join(headers["transfer-encoding"]).strip().lower()
        if bodies and chunked and codings == "chunked":
            if lengths:
                raise HttpError(400, "both Transfer-Encoding and Content-Length")
        elif bodies:
            raise HttpError(411, "Transfer-Encoding is not supported; send Content-Length")
        else:
            raise HttpError(400, "request bodies are not accepted (Transfer-Encoding)")
    if bodies:
        if any(not _DIGITS.fullmatch(v) for v in lengths) or len(set(lengths)) > 1:
            # str.isdigit() and int() accept non-ASCII digits ("\u0663"): never here.
            raise HttpError(400, "Content-Length is not a number")
    elif any(v.strip() != "0" for v in lengths):
        raise HttpError(400, "request bodies are not accepted (Content-Length)")
    path, _, query = target.partition("?")
    return Request(method, path, version, headers, query)


def content_length(request: Request) -> int | None:
    """The announced body length (validated by parse_request_head), or None."""
    value = request.header("content-length")
    return int(value) if value is not None else None


def is_chunked(request: Request) -> bool:
    """True for a body sent with Transfer-Encoding: chunked (validated by the parser)."""
    return "transfer-encoding" in request.headers


def _request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HttpError(400, "malformed method")
    if not re.match(r"^HTTP/[0-9]\.[0-9]$", version):
        raise HttpError(400, "malformed HTTP version")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, f"{version} is not supported")
    if not _TARGET.match(target):
        raise HttpError(400, "request target must be an absolute path")
    return method, target, version


def _field_line(line: str) -> tuple[str, str]:
    if not line or line[0] in " \t":
        raise HttpError(400, "obsolete line folding is not accepted")
    name, colon, value = line.partition(":")
    if not colon or not _TOKEN.match(name):
        raise HttpError(400, "malformed header field")
    value = value.strip(" \t")
    if _BAD_VALUE_CHARS.search(value):
        raise HttpError(400, f"control character in header {name!r}")
    return name.lower(), value


@functools.lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    """The Date field of `second`: formatted once per second, not once per response."""
    return formatdate(second, usegmt=True)


def response_head(status: int, fields: list[tuple[str, str]], *, keep_alive: bool) -> bytes:
    """Serialise a status line and fields (Date, Server and Connection are added)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
             f"Date: {_http_date(int(time.time()))}", "Server: fleetflash-media"]
    lines += [f"{name}: {value}" for name, value in fields]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
