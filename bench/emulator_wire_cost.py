"""CPU cost of the emulator's HTTP layer per keep-alive GET, without the network or the app.

Drives one emulator/server connection (h11 framing, the server's own
request-head checks, the WSGI environ, the response head and body) with the
request bench/emulator_scale.py sends and answers it at once with the header
set and body size of a real Redfish GET (a ComputerSystem). Reports the CPU
time of the calling thread per request (``time.thread_time``): the event
loop's share of each request, which every port shares; unlike wall-clock
throughput it does not depend on other processes' load. Which emulator is
measured is whatever ``emulator`` imports (set PYTHONPATH). The last line is
one JSON object: requests, us_per_request.

    PYTHONPATH=. .venv/bin/python bench/emulator_wire_cost.py [--requests 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from emulator.server import MultiPortServer, PortPolicy
from emulator.server.connection import HttpConnection, Listener

REQUEST = (b"GET /redfish/v1/Systems/1 HTTP/1.1\r\nHost: 127.0.0.1:40001\r\n"
           b"Authorization: Basic YWRtaW46cGFzc3dvcmQxMjM0NTY3OA==\r\n"
           b"Accept: application/json\r\n\r\n")
BODY = b"x" * 1031
HEADERS = [("Content-Type", "application/json"), ("OData-Version", "4.0"),
           ("Cache-Control", "no-cache"), ("ETag", '"a1969fa03d4b9cc2b6735198"'),
           ("Link", "<https://redfish.dmtf.org/schemas/v1/ComputerSystem.v1_27_0.json>; "
                    "rel=describedby"),
           ("Content-Length", str(len(BODY))), ("Allow", "GET, HEAD, OPTIONS, PATCH")]


class CountingTransport(asyncio.Transport):
    """Counts what the connection writes; never blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def write(self, data: Any) -> None:
        self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        raise SystemExit("the connection closed: the request or the answer was refused")

    abort = close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50000)
    args = parser.parse_args()
    server = MultiPortServer(worker_threads=1)
    answers: list[tuple[HttpConnection, bool]] = []
    # The worker's part, done at once: the answer comes back as the loop gets it.
    server.dispatch = lambda connection, environ, close, listener: (  # type: ignore[method-assign]
        answers.append((connection, close)))
    listener = Listener(port=40001, app=lambda environ, start_response: [], policy=PortPolicy())
    connection = HttpConnection(server, listener, listener.epoch)
    transport = CountingTransport()
    connection.connection_made(transport)

    def run(count: int) -> None:
        for _ in range(count):
            connection.data_received(REQUEST)
            answered, close = answers.pop()
            answered.respond("200 OK", list(HEADERS), BODY, close)

    run(1000)  # warm-up: the checked-header cache, first-request set-up
    started = time.thread_time()
    run(args.requests)
    cost = (time.thread_time() - started) / args.requests * 1e6
    if transport.written < args.requests * len(BODY):
        raise SystemExit("answers went missing")
    print(f"{args.requests} GETs, {cost:.1f} us CPU each in the HTTP layer")
    print(json.dumps({"requests": args.requests, "us_per_request": round(cost, 1)}))


if __name__ == "__main__":
    main()
