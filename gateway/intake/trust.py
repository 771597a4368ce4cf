"""Which URLs a source may make the gateway fetch.

An alert can only point at a URL inside its source's configured prefixes.
The check compares parsed URL components (scheme, host, effective port,
path segments), never string prefixes: `http://trusted.example.com.evil/`,
`http://trusted.example.com@evil/`, another port, `file://` or `ftp://` and
dot-segment or percent-encoded path tricks all fail it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_RE = re.compile(rf"^(\[[0-9a-f:.]+\]|{_LABEL}(\.{_LABEL})*)$")
# Encoded '.', '/', '\\' and NUL let a path look inside a prefix while resolving elsewhere.
_ENCODED_TRICKS = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
MAX_URI_LENGTH = 2048


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    path_segments: tuple[str, ...]
    is_dir: bool


def _parse(uri: str) -> _Parsed | str:
    """Parse a URL for comparison, or return why it is unacceptable."""
    if len(uri) > MAX_URI_LENGTH:
        return f"URI longer than {MAX_URI_LENGTH} characters"
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in uri):
        return "URI contains whitespace, control or non-ASCII characters"
    try:
        parts: SplitResult = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        return f"URI is not a valid URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"URI scheme {parts.scheme or '(none)'!r} is not http or https"
    if "@" in parts.netloc:
        return "URI must not contain user information"
    host = (parts.hostname or "").lower()
    if not host or not _HOST_RE.match(host if ":" not in host else f"[{host}]"):
        return "URI has no valid host name"
    if parts.fragment or "#" in uri:
        return "URI must not have a fragment"
    if "\\" in parts.path or _ENCODED_TRICKS.search(parts.path):
        return "URI path contains encoded or backslash path separators"
    segments = parts.path.split("/")[1:] if parts.path else []
    if any(s in (".", "..") for s in segments):
        return "URI path contains '.' or '..' segments"
    return _Parsed(
        scheme=scheme, host=host, port=port if port is not None else _DEFAULT_PORTS[scheme],
        path_segments=tuple(s for s in segments if s), is_dir=parts.path.endswith("/"),
    )


def check_prefix(prefix: str) -> str | None:
    """Return a problem with a configured prefix (None when it is usable)."""
    parsed = _parse(prefix)
    if isinstance(parsed, str):
        return parsed
    if urlsplit(prefix).query:
        return "prefix must not have a query"
    return None


def check_uri(uri: str) -> str | None:
    """Return why `uri` can never be fetched (None when its form is acceptable)."""
    parsed = _parse(uri)
    return parsed if isinstance(parsed, str) else None


def uri_within(uri: str, prefix: str) -> bool:
    """True when `uri` lies inside `prefix`.

    Same scheme, host and effective port; the prefix's path segments are a
    leading run of the URI's. A prefix without a trailing '/' still matches
    only whole segments: `https://h/fw` admits `https://h/fw/a.iso` and
    `https://h/fw`, not `https://h/fwx.iso`.
    """
    target = _parse(uri)
    allowed = _parse(prefix)
    if isinstance(target, str) or isinstance(allowed, str):
        return False
    if (target.scheme, target.host, target.port) != (allowed.scheme, allowed.host, allowed.port):
        return False
    n = len(allowed.path_segments)
    if target.path_segments[:n] != allowed.path_segments:
        return False
    # A directory prefix (trailing '/') must have something beneath it.
    return not (allowed.is_dir and n > 0 and len(target.path_segments) == n)


def uri_allowed(uri: str, prefixes: Iterable[str]) -> str | None:
    """Return why `uri` is refused for these prefixes, or None when it is allowed."""
    problem = check_uri(uri)
    if problem:
        return problem
    if not any(uri_within(uri, prefix) for prefix in prefixes):
        return "URI is outside the source's allowed prefixes"
    return None
