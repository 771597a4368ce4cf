"""HTTP/1.1 at the byte level, for tests of message framing (RFC 9112 section 6).

A client library forgives a server that frames badly: it knows a HEAD or a
204 response has no body and never looks for one. These helpers read exactly
what the server sent, so a test sees a stray body, a Content-Length on a 204,
or a connection left in an unusable state.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    """A response head as sent: the status, the fields (names lower-cased, each name once)."""

    status: int
    fields: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.fields.get(name.lower())


class RawConnection:
    """One TCP connection to 127.0.0.1:port; requests are bytes, responses read by hand."""

    def __init__(self, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self._buffer = b""

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, method: str, path: str, headers: dict[str, str] | None = None,
             body: bytes = b"") -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def read_head(self) -> RawResponse:
        """The next response head (status line and fields, up to the blank line)."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed inside a response head: "
                                     f"{self._buffer!r}")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, _reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        fields: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            assert name.lower() not in fields, f"{name} sent twice"
            fields[name.lower()] = value.strip()
        return RawResponse(int(status), fields)

    def read_body(self, length: int) -> bytes:
        """Exactly `length` body bytes."""
        while len(self._buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"body cut short: {len(self._buffer)} of {length} bytes")
            self._buffer += chunk
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body

    def nothing_more(self, response: RawResponse) -> bool:
        """After a response that has no body: True when the server sent nothing more on
        this connection (it closed it, as `Connection: close` said, or it waits for the
        next request). Bytes already here, or arriving soon, would be a stray body."""
        if self._buffer:
            return False
        if (response.header("connection") or "").lower() == "close":
            return self.sock.recv(65536) == b""
        return True  # the next exchange on this connection shows any stray byte
