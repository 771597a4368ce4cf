"""The emulator's HTTP/1.1 framing on the wire: raw sockets against a real
MultiPortServer on loopback, one byte sequence per case."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import h11
import pytest

from emulator.server import MultiPortServer

MAX_BODY = 10_000
READ_TIMEOUT_S = 10.0  # far below the server's idle timeout: a hang fails the test


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Echoes "METHOD PATH declared-length received-length:body".

    /status/N answers N with a body and a Content-Length the server must drop;
    /bare/N answers N with neither (as Werkzeug answers a 204 or 304).
    """
    body = environ["wsgi.input"].read()
    path = environ["PATH_INFO"]
    if path.startswith("/status/"):
        status = int(path.rsplit("/", 1)[1])
        start_response(f"{status} X", [("Content-Type", "text/plain"),
                                       ("Content-Length", "28")])
        return [b"this must not reach the wire"]
    if path.startswith("/bare/"):
        start_response(f"{path.rsplit('/', 1)[1]} X", [("Content-Type", "text/plain")])
        return []
    if path == "/injected":  # a header value that would smuggle a second header line
        start_response("200 OK", [("Content-Length", "2"), ("X-Note", "a\r\nSet-Cookie: x=1")])
        return [b"ok"]
    declared = int(environ.get("CONTENT_LENGTH") or 0)
    text = b"%s %s %d %d:" % (environ["REQUEST_METHOD"].encode(), path.encode(), declared,
                              len(body)) + body
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(text)))])
    return [text]


@pytest.fixture
def port() -> Iterator[int]:
    server = MultiPortServer(max_body_bytes=MAX_BODY, worker_threads=2)
    server.start()
    yield server.open_port(0, echo_app)
    server.stop()


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def client_hello() -> bytes:
    """The first flight of a real TLS client (Python's ssl module)."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="bmc.example")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_a_tls_client_hello_on_a_plain_port_gets_400_and_close(port: int) -> None:
    hello = client_hello()
    assert hello[:1] == b"\x16"
    answer = exchange(port, hello)  # returns only because the server closed
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"plain HTTP" in answer


def test_an_https_client_fails_its_handshake_instead_of_hanging(port: int) -> None:
    context = ssl.create_default_context()
    with (socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock,
          pytest.raises(ssl.SSLError)):
        context.wrap_socket(sock, server_hostname="bmc.example")


# --- reading answers with a real HTTP parser (h11 as the client) -----------------------
Answer = tuple[int, dict[str, str], bytes]


def answers(raw: bytes, methods: list[str]) -> list[Answer]:
    """Parse the responses in ``raw`` to requests made with ``methods``, in order."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(raw)
    client.receive_data(b"")  # the server closed: everything is here
    found: list[Answer] = []
    for method in methods:
        client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        status, headers, body = 0, {}, b""
        while True:
            event = client.next_event()
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {n.decode(): v.decode() for n, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                raise AssertionError(f"answer to {method} cut short: {raw!r}")
        found.append((status, headers, body))
        if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
            break
        client.start_next_cycle()
    return found


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


LAST = "Connection: close"


@pytest.mark.parametrize(
    ("case", "raw"),
    [
        ("bad chunk size", request("POST", "/", "Transfer-Encoding: chunked", body=b"zz\r\n")),
        ("negative chunk size",
         request("POST", "/", "Transfer-Encoding: chunked", body=b"-5\r\nabcde\r\n0\r\n\r\n")),
        ("chunk size with a sign",
         request("POST", "/", "Transfer-Encoding: chunked", body=b"+5\r\nabcde\r\n0\r\n\r\n")),
        ("non-ASCII Content-Length",
         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \u0663\r\n\r\nabc".encode()),
        ("negative Content-Length", request("POST", "/", "Content-Length: -3", body=b"abc")),
        ("duplicated Content-Length",
         request("POST", "/", "Content-Length: 3", "Content-Length: 3", body=b"abc")),
        ("Content-Length list", request("POST", "/", "Content-Length: 3, 3", body=b"abc")),
        ("Content-Length and Transfer-Encoding",
         request("POST", "/", "Content-Length: 3", "Transfer-Encoding: chunked",
                 body=b"3\r\nabc\r\n0\r\n\r\n")),
        ("obs-fold", request("GET", "/", "X-Folded: one", " two")),
        ("obs-fold with a tab", request("GET", "/", "X-Folded: one", "\ttwo")),
        ("unknown transfer coding", request("POST", "/", "Transfer-Encoding: gzip")),
    ],
)
def test_malformed_framing_gets_400_and_the_connection_closes(
    port: int, case: str, raw: bytes
) -> None:
    # A well-formed request pipelined behind must not be answered: the connection is over.
    reply = exchange(port, raw + request("GET", "/after"))
    [(status, headers, body)] = answers(reply, ["POST"])
    assert status in (400, 501), case
    assert headers["connection"] == "close", case
    assert b"/after" not in reply, case


def test_unknown_transfer_coding_is_501(port: int) -> None:
    [(status, _headers, _body)] = answers(
        exchange(port, request("POST", "/", "Transfer-Encoding: gzip")), ["POST"])
    assert status == 501


def test_chunked_body_of_many_pieces_is_decoded_once_and_whole(port: int) -> None:
    pieces = [bytes([65 + i % 26]) * (1 + i % 5) for i in range(3000)]
    payload = b"".join(pieces)
    assert len(payload) <= MAX_BODY
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(request("POST", "/up", "Transfer-Encoding: chunked", LAST))
        # One send per chunk: the body arrives in thousands of reads.
        for piece in pieces:
            sock.sendall(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\nX-Trailer: yes\r\n\r\n")
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    [(status, _headers, body)] = answers(reply, ["POST"])
    assert status == 200
    assert body == b"POST /up %d %d:" % (len(payload), len(payload)) + payload


def test_chunked_body_over_the_cap_never_reaches_the_app(port: int) -> None:
    chunk = b"x" * 4096
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    reply = exchange(port, request("POST", "/up", "Transfer-Encoding: chunked", body=body))
    [(status, headers, answer)] = answers(reply, ["POST"])
    # The app was told the body is over the limit, and got none of it.
    assert status == 200 and answer == b"POST /up %d 0:" % (MAX_BODY + 1)
    assert headers["connection"] == "close"


def test_a_huge_chunk_size_is_capped_not_allocated(port: int) -> None:
    reply = exchange(port, request("POST", "/up", "Transfer-Encoding: chunked",
                                   body=b"fffffffffffff\r\n" + b"x" * 20_000))
    [(status, _headers, answer)] = answers(reply, ["POST"])
    assert status == 200 and answer == b"POST /up %d 0:" % (MAX_BODY + 1)


def test_declared_body_over_the_cap_is_refused_from_its_length(port: int) -> None:
    reply = exchange(port, request("POST", "/up", "Content-Length: 50000", body=b"y" * 50_000))
    [(status, headers, answer)] = answers(reply, ["POST"])
    assert answer == b"POST /up 50000 0:" and headers["connection"] == "close"
    assert status == 200


@pytest.mark.parametrize("code", [204, 304])
@pytest.mark.parametrize("kind", ["status", "bare"])
def test_204_and_304_carry_no_body_and_the_next_request_still_parses(
    port: int, code: int, kind: str
) -> None:
    reply = exchange(port, request("GET", f"/{kind}/{code}") + request("GET", "/next", LAST))
    (status, headers, body), (next_status, _h, next_body) = answers(reply, ["GET", "GET"])
    assert status == code and body == b""
    assert "content-length" not in headers and "transfer-encoding" not in headers
    assert b"must not reach" not in reply
    assert next_status == 200 and next_body.startswith(b"GET /next ")


def test_head_carries_no_body(port: int) -> None:
    reply = exchange(port, request("HEAD", "/thing") + request("GET", "/next", LAST))
    (status, headers, body), (_s, _h, next_body) = answers(reply, ["HEAD", "GET"])
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(b"HEAD /thing 0 0:"))
    assert next_body.startswith(b"GET /next ")


def test_expect_100_continue_gets_continue_before_the_body(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(request("POST", "/up", "Content-Length: 5", "Expect: 100-continue", LAST))
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"hello")
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    [(status, _headers, body)] = answers(reply, ["POST"])
    assert status == 200 and body == b"POST /up 5 5:hello"


def test_a_client_stuck_mid_request_does_not_hold_up_others(port: int) -> None:
    stuck = [socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S)
             for _ in range(20)]
    try:
        for index, sock in enumerate(stuck):
            # Half a head, half a body, half a chunk: each waits for more, forever.
            sock.sendall([b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                          request("POST", "/", "Content-Length: 100", body=b"abc"),
                          request("POST", "/", "Transfer-Encoding: chunked", body=b"10\r\nab"),
                          ][index % 3])
        replies: list[bytes] = []
        workers = [threading.Thread(target=lambda: replies.append(
            exchange(port, request("GET", "/fine", LAST)))) for _ in range(5)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(READ_TIMEOUT_S * 2)
        assert len(replies) == 5
        assert all(answers(reply, ["GET"])[0][2].startswith(b"GET /fine") for reply in replies)
    finally:
        for sock in stuck:
            sock.close()


def test_pipelined_keep_alive_requests_are_answered_in_order(port: int) -> None:
    raw = b"".join(request("POST", f"/{i}", f"Content-Length: {i}", body=b"z" * i)
                   for i in range(1, 30)) + request("GET", "/end", LAST)
    found = answers(exchange(port, raw), ["POST"] * 29 + ["GET"])
    assert [body.split(b" ")[1] for _s, _h, body in found] == [
        f"/{i}".encode() for i in range(1, 30)] + [b"/end"]


def test_an_app_header_with_a_line_break_never_reaches_the_wire(port: int) -> None:
    answer = exchange(port, b"GET /injected HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"Set-Cookie" not in answer
    assert not answer.startswith(b"HTTP/1.1 200")  # the connection is dropped instead
    # The server is unharmed: the next connection is answered.
    again = exchange(port, b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert again.startswith(b"HTTP/1.1 200 ") and again.endswith(b"GET /after 0 0:")
