"""The WSGI environ (PEP 3333) for one request h11 has parsed.

Kept apart from the connection: this is pure translation, from h11's view
of a request to the app's, and knows nothing of sockets or framing. It reads
h11's own list of (name, lower-case name, value) rather than iterating its
Headers sequence, which costs a Python call per field (h11 is pinned to a
minor version in pyproject.toml).
"""

from __future__ import annotations

import sys
from typing import IO, Any
from urllib.parse import unquote

import h11

# Request header name -> environ key ("": not passed on), filled as names are seen.
_KEYS: dict[bytes, str] = {b"content-length": "", b"transfer-encoding": "",
                           b"content-type": "CONTENT_TYPE"}
_MAX_KEYS = 1024  # a client inventing names must not grow it without end


def _environ_key(name: bytes) -> str:
    key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
    if len(_KEYS) < _MAX_KEYS:
        _KEYS[name] = key
    return key


def connection_environ(*, port: int, peer: tuple[str, int], https: bool) -> dict[str, Any]:
    """The part of every request's environ that one connection fixes (made once per connection).

    port is the local port the requests arrive on (how the app picks the BMC).
    """
    return {
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "REMOTE_ADDR": peer[0],
        "REMOTE_PORT": str(peer[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if https else "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def wsgi_environ(request: h11.Request, body: IO[bytes], length: int,
                 connection: dict[str, Any]) -> dict[str, Any]:
    """The environ for ``request`` whose decoded body (``length`` bytes) reads from ``body``;
    ``connection`` is what connection_environ made for the connection it came on."""
    target = request.target.decode("latin-1")
    path, _, query = target.partition("?")
    environ = connection.copy()
    environ["REQUEST_METHOD"] = request.method.decode("ascii")
    environ["PATH_INFO"] = unquote(path, "latin-1")
    environ["RAW_URI"] = target
    environ["QUERY_STRING"] = query
    environ["SERVER_PROTOCOL"] = "HTTP/" + request.http_version.decode("ascii")
    environ["wsgi.input"] = body
    for _raw, name, raw_value in request.headers._full_items:  # lower-case names
        key = _KEYS.get(name)
        if key is None:
            key = _environ_key(name)
        if not key:
            continue  # the app sees the decoded body's length
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    if length or request.method not in (b"GET", b"HEAD"):
        environ["CONTENT_LENGTH"] = str(length)
    return environ
