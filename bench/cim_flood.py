"""CIM listener alerts/s, alone and under a flood of unauthenticated clients.

Part of bench/front_door.py (run that); this module holds the listener half.
A gateway runs in its own process with only its listener doing work; 4
publishers send valid alerts on keep-alive connections for --alerts-s seconds,
alone and then while --flood unauthenticated clients post as fast as the
listener answers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.media import recv_until  # noqa: E402
from tests.support.slow_readers import raise_fd_limit  # noqa: E402


def serve_gateway(config_path: str) -> None:
    """Child: a gateway with only its listener doing work; prints the port."""
    raise_fd_limit()
    from gateway.config import load_config
    from gateway.service import build_gateway

    config = load_config(config_path)
    gateway = build_gateway(config, worker_poll_interval=3600)
    gateway.start()
    gateway.worker.stop()
    assert config.listener.http is not None
    print(config.listener.http[1], flush=True)
    sys.stdin.read()
    gateway.stop()


def _export(identifier: str) -> bytes:
    from tests.unit.gateway.cim.cimxml import export_request, update_properties

    return export_request(update_properties(uri="http://127.0.0.1:9/fw/bench.iso",
                                            identifier=identifier))


def _publisher(port: int, worker: int, until: float, counts: list[int]) -> None:
    auth = base64.b64encode(b"bench:bench-password").decode()
    done = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        while time.monotonic() < until:
            body = _export(f"bench-{worker}-{done}-{time.time_ns()}")
            sock.sendall(
                (f"POST / HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\n"
                 f"CIMExport: MethodRequest\r\nCIMExportMethod: ExportIndication\r\n"
                 f"Authorization: Basic {auth}\r\nContent-Length: {len(body)}\r\n\r\n"
                 ).encode() + body)
            answer = recv_until(sock, b"</CIM>")
            if answer.startswith(b"HTTP/1.1 200") and b"<ERROR" not in answer:
                done += 1
    counts.append(done)


def alerts_per_s(port: int, seconds: float) -> float:
    counts: list[int] = []
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=_publisher, args=(port, w, until, counts))
               for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return round(sum(counts) / seconds, 1)


def flood(port: int, clients: int, stop_file: str) -> None:
    """Child: `clients` unauthenticated posters, as fast as the listener answers."""
    raise_fd_limit()
    body = b"<x/>"
    request = (b"POST / HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\n"
               b"CIMExport: MethodRequest\r\nCIMExportMethod: ExportIndication\r\n"
               b"Content-Length: 4\r\n\r\n" + body)

    async def one(index: int) -> None:
        while not os.path.exists(stop_file):
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(f"127.0.9.{index // 10 + 2}", 0))
                while not os.path.exists(stop_file):
                    writer.write(request)
                    await reader.readuntil(b"\r\n\r\n")
                writer.close()
            except (OSError, asyncio.IncompleteReadError):
                await asyncio.sleep(0.05)

    async def run() -> None:
        await asyncio.gather(*(one(i) for i in range(clients)))

    asyncio.run(run())


def cim_figures(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from bench.common import bench_gateway_config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = bench_gateway_config(
        work, port, name="gw-bench", username="bench", password="bench-password",
        image_uri_prefix="http://127.0.0.1:9/fw/",
        trusted_key=REPO / "tests/keys/TEST-ONLY-bundle-signing.pub")
    child = subprocess.Popen([sys.executable, __file__, str(config)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        port = int(child.stdout.readline())
        alone = alerts_per_s(port, args.alerts_s)
        stop_file = str(work / "stop-flood")
        flooder = multiprocessing.Process(target=flood, args=(port, args.flood, stop_file))
        flooder.start()
        time.sleep(2)  # the flood is established
        flooded = alerts_per_s(port, args.alerts_s)
        Path(stop_file).touch()
        flooder.join(timeout=60)
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    return {"cim_alerts_per_s": alone, "cim_alerts_per_s_under_flood": flooded,
            "flood_clients": args.flood}


if __name__ == "__main__":
    serve_gateway(sys.argv[1])
