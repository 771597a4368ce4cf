"""A loopback TCP front for a real HTTP server that resets its first connections: what
a client meets when a busy server's accept queue overflows, or when it reuses a
keep-alive connection the server has just closed."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class ResettingFront:
    """Listens on 127.0.0.1; the first ``resets`` connections are closed at once with a
    TCP RST, every later one is piped to ``upstream`` (host, port) both ways."""

    def __init__(self, upstream: tuple[str, int], resets: int) -> None:
        self.upstream = upstream
        self.resets_left = resets
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return  # closed: the test is over
            self.accepted += 1
            if self.resets_left > 0:
                self.resets_left -= 1
                # SO_LINGER 0: close() sends RST instead of FIN.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    @contextmanager
    def running(self) -> Iterator[ResettingFront]:
        acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        acceptor.start()
        try:
            yield self
        finally:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            self._listener.close()
            acceptor.join(5)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for sock in (source, sink):  # the other direction's pipe then ends too
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
