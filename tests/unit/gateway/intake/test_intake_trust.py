"""Which ImageURIs a source may make the gateway fetch: parsed components, never string prefixes."""

from __future__ import annotations

import pytest

from gateway.intake.trust import check_prefix, uri_allowed

PREFIXES = ["http://trusted.example.com/fw/", "https://mirror.example.net:8443/updates"]

ALLOWED = [
    ("plain file under the prefix", "http://trusted.example.com/fw/a.iso"),
    ("nested path", "http://trusted.example.com/fw/2026/q4/a.iso"),
    ("scheme and host case-insensitive", "HTTP://Trusted.EXAMPLE.com/fw/a.iso"),
    ("explicit default port", "http://trusted.example.com:80/fw/a.iso"),
    ("prefix without trailing slash, child", "https://mirror.example.net:8443/updates/b.iso"),
    ("query string is fine", "http://trusted.example.com/fw/a.iso?token=1"),
]

REFUSED = [
    ("host suffix trick", "http://trusted.example.com.evil/fw/a.iso", "outside"),
    ("userinfo trick, evil host", "http://trusted.example.com@evil.example/fw/a.iso",
     "user information"),
    ("userinfo on the trusted host", "http://user:pw@trusted.example.com/fw/a.iso",
     "user information"),
    ("other port", "http://trusted.example.com:8080/fw/a.iso", "outside"),
    ("https where http is allowed", "https://trusted.example.com/fw/a.iso", "outside"),
    ("default port where 8443 is allowed", "https://mirror.example.net/updates/b.iso",
     "outside"),
    ("file scheme", "file:///fw/a.iso", "scheme"),
    ("ftp scheme", "ftp://trusted.example.com/fw/a.iso", "scheme"),
    ("no scheme", "trusted.example.com/fw/a.iso", "scheme"),
    ("sibling directory sharing a string prefix", "http://trusted.example.com/fwx/a.iso",
     "outside"),
    ("prefix without slash, string-prefix sibling", "https://mirror.example.net:8443/updatesX",
     "outside"),
    ("the directory itself", "http://trusted.example.com/fw/", "outside"),
    ("dot-dot escape", "http://trusted.example.com/fw/../admin/a.iso", "segments"),
    ("encoded dot-dot escape", "http://trusted.example.com/fw/%2E%2E/admin/a.iso", "encoded"),
    ("encoded slash", "http://trusted.example.com/fw%2fa.iso", "encoded"),
    ("backslash", "http://trusted.example.com/fw/..\\a.iso", "encoded or backslash"),
    ("fragment", "http://trusted.example.com/fw/a.iso#x", "fragment"),
    ("whitespace", "http://trusted.example.com/fw/a .iso", "whitespace"),
    ("non-ASCII host look-alike", "http://trusted.exаmple.com/fw/a.iso", "non-ASCII"),
    ("port out of range", "http://trusted.example.com:99999/fw/a.iso", "not a valid URL"),
    ("empty host", "http:///fw/a.iso", "host"),
]


@pytest.mark.parametrize(("description", "uri"), ALLOWED, ids=[r[0] for r in ALLOWED])
def test_uri_inside_a_prefix_is_allowed(description: str, uri: str) -> None:
    assert uri_allowed(uri, PREFIXES) is None


@pytest.mark.parametrize(("description", "uri", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_uri_outside_or_malformed_is_refused_with_reason(description: str, uri: str,
                                                         reason: str) -> None:
    problem = uri_allowed(uri, PREFIXES)
    assert problem is not None
    assert reason in problem


def test_no_prefixes_allows_nothing() -> None:
    assert uri_allowed("http://trusted.example.com/fw/a.iso", []) is not None


@pytest.mark.parametrize("prefix", ["ftp://x/", "http://u@x/", "http://x/?q=1", "x/y"])
def test_bad_configured_prefix_is_reported(prefix: str) -> None:
    assert check_prefix(prefix) is not None
