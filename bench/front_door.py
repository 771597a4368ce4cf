"""Front-door benchmark: many slow media readers, and the CIM listener under a flood.

Run: .venv/bin/python bench/front_door.py [--readers 10000] [--rate-mb 1.0]
         [--seconds 20] [--image-mb 64] [--alerts-s 10] [--flood 500]
         [--malloc-arena-max N] [--skip-media] [--skip-cim]

1. Media: the built-in media server runs in its own process (its RSS is its own).
   --readers asyncio clients (2 client processes, source addresses spread over
   127.0.0.0/16 like a fleet of BMCs) each GET the same image and read it at
   --rate-mb MB/s for --seconds, while one unthrottled reader measures whether fast
   readers starve. Reported: aggregate MB/s, p99 time to first byte, the server's
   RSS growth from idle to full load, refusals (failed or non-200 readers plus the
   server's own front-door refusals: must be 0) and the fast reader's MB/s.
   The same run against nginx (Debian package) serving the same file gives the
   ratio built-in / nginx of aggregate MB/s.
2. CIM listener: a gateway in its own process; 4 publishers send valid alerts on
   keep-alive connections for --alerts-s seconds, alone and then while --flood
   unauthenticated clients post as fast as they can. Reported: alerts/s of both.
Last line: one JSON object with every figure and the parameters used.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.media import ensure_nginx, free_port, rss_mb, run_nginx  # noqa: E402
from gateway.media import CapabilityGrant, CapabilitySigner, media_url  # noqa: E402

MB = 1_000_000
TICK_S = 0.5


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def source_ip(index: int) -> str:
    """127.0.x.y for reader `index`, 8 readers per address (a BMC opens a few)."""
    n = index // 8
    return f"127.0.{n // 250 + 1}.{n % 250 + 2}"


# ----- media ------------------------------------------------------------------
def serve_media(image_dir: str) -> None:
    """Child: the built-in media server; prints its port, then its stats on request."""
    raise_fd_limit()
    from gateway.media import MediaServer, ServerLimits, VerifiedDirectoryCatalog

    signer = CapabilitySigner([bytes.fromhex(os.environ["FLEETFLASH_BENCH_SECRET"])])
    server = MediaServer(signer, VerifiedDirectoryCatalog(Path(image_dir)),
                         http=("127.0.0.1", 0), limits=ServerLimits())
    server.start()
    print(server.bound_ports()["http"], flush=True)
    for _ in sys.stdin:
        stats = server.stats()
        print(json.dumps({"connections": stats.connections, "refusals": stats.refusals,
                          "in_flight": stats.bytes_in_flight,
                          "peak": server.peak_connections}), flush=True)
    server.stop()


async def _reader(index: int, port: int, path: str, rate: float, until: float,
                  result: dict[str, Any]) -> None:
    """GET `path` and read it at `rate` bytes/s until `until`; rate 0: as fast as
    possible, fetching the file again on the same connection whenever it ends."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source_ip(index), 0), limit=64 * 1024)
    except OSError as exc:
        result["errors"].append(f"connect: {exc}")
        return
    try:
        budget_end = loop.time()
        first = True
        while loop.time() < until:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                result["errors"].append(head.split(b"\r\n", 1)[0].decode())
                return
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(1)
            if first:
                result["ttfb"].append(loop.time() - started)
                first = False
            left = length - 1
            result["bytes"] += 1
            while left > 0 and loop.time() < until:
                want = min(left, int(rate * TICK_S) if rate > 0 else 1 << 20)
                while want > 0:
                    data = await reader.read(min(want, 1 << 20))
                    if not data:
                        raise ConnectionError("closed by the server")
                    want -= len(data)
                    left -= len(data)
                    result["bytes"] += len(data)
                if rate > 0:
                    budget_end += TICK_S
                    await asyncio.sleep(max(0.0, budget_end - loop.time()))
            if left > 0:
                return  # time is up mid-body
    except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
        result["errors"].append(f"read: {exc}")
    finally:
        writer.transport.abort()


def _client_process(port: int, jobs: list[tuple[int, str, float]], start: float, seconds: float,
                    label: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    raise_fd_limit()

    async def run() -> dict[str, Any]:
        result: dict[str, Any] = {"bytes": 0, "ttfb": [], "errors": []}
        await asyncio.sleep(max(0.0, start - time.time()))
        until = asyncio.get_running_loop().time() + seconds
        tasks = []
        for index, path, rate in jobs:
            tasks.append(asyncio.create_task(_reader(index, port, path, rate, until, result)))
            if len(tasks) % 200 == 0:
                await asyncio.sleep(0.02)  # a ramp, like BMCs mounting over a few seconds
        await asyncio.gather(*tasks)
        return result

    out.put((label, asyncio.run(run())))


def run_media(port: int, paths: list[str], rate_mb: float, seconds: float,
              sample: Any = None) -> dict[str, Any]:
    """Readers + one fast reader; aggregate MB/s counts the throttled readers only."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    start = time.time() + 1.0
    jobs = [(i, p, rate_mb * MB) for i, p in enumerate(paths)]
    fast = (len(paths) + 8, paths[0], 0.0)
    workers = [multiprocessing.Process(target=_client_process,
                                       args=(port, jobs[i::2], start, seconds, "slow", queue))
               for i in range(2)]
    workers.append(multiprocessing.Process(target=_client_process,
                                           args=(port, [fast], start + seconds / 2,
                                                 seconds / 2, "fast", queue)))
    for worker in workers:
        worker.start()
    peak: dict[str, Any] = {}
    if sample is not None:
        time.sleep(max(0.0, start - time.time()) + seconds * 0.8)
        peak = sample()
    labelled = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    results = [r for _, r in labelled]
    fast_result = next(r for label, r in labelled if label == "fast")
    slow = [r for label, r in labelled if label == "slow"]
    ttfb = sorted(t for r in results for t in r["ttfb"])
    errors = [e for r in results for e in r["errors"]]
    slow_bytes = sum(r["bytes"] for r in slow)
    return {"mb_per_s": round(slow_bytes / MB / seconds, 1),
            "ttfb_p99_s": round(ttfb[int(len(ttfb) * 0.99) - 1], 3) if ttfb else None,
            "client_errors": len(errors), "first_error": errors[0] if errors else None,
            "fast_reader_mb_per_s": round(fast_result["bytes"] / MB / (seconds / 2), 1),
            **peak}


def start_plain_nginx(prefix: Path, image_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    for name in ("tmp_body", "tmp_proxy", "tmp_fastcgi", "tmp_uwsgi", "tmp_scgi"):
        (prefix / name).mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(textwrap.dedent(f"""\
        {'user root;' if os.geteuid() == 0 else ''}
        worker_processes 2;
        worker_rlimit_nofile 65536;
        pid {prefix}/nginx.pid;
        error_log {prefix}/error.log warn;
        events {{ worker_connections 16384; }}
        http {{
            client_body_temp_path {prefix}/tmp_body; proxy_temp_path {prefix}/tmp_proxy;
            fastcgi_temp_path {prefix}/tmp_fastcgi; uwsgi_temp_path {prefix}/tmp_uwsgi;
            scgi_temp_path {prefix}/tmp_scgi;
            access_log off; sendfile on; keepalive_timeout 60s;
            server {{
                listen 127.0.0.1:{port} backlog=4096;
                location /media/ {{ alias {image_dir}/; }}
            }}
        }}
        """))
    return run_nginx(prefix, conf, port)


def media_figures(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    image_dir = work / "images"
    image_dir.mkdir()
    data = os.urandom(args.image_mb * MB)
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    (image_dir / f"{digest}.iso").write_bytes(data)
    secret = os.urandom(32)
    signer = CapabilitySigner([secret])
    expires = int(time.time()) + 3600
    urls = [media_url("http://x", signer.mint(CapabilityGrant(digest, "bench", f"bmc-{i}",
                                                               expires)), "image.iso")
            for i in range(args.readers)]
    paths = ["/" + u.split("/", 3)[3] for u in urls]
    child = subprocess.Popen([sys.executable, __file__, "--serve-media", str(image_dir)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "FLEETFLASH_BENCH_SECRET": secret.hex(),
                                  **({"MALLOC_ARENA_MAX": str(args.malloc_arena_max)}
                                     if args.malloc_arena_max else {})})
    assert child.stdin is not None and child.stdout is not None
    port = int(child.stdout.readline())
    time.sleep(0.5)
    idle_rss, _ = rss_mb(child.pid)
    lock = threading.Lock()

    def sample() -> dict[str, Any]:
        with lock:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("stats\n")
            child.stdin.flush()
            stats = json.loads(child.stdout.readline())
        rss, _ = rss_mb(child.pid)
        return {"connections_at_sample": stats["connections"],
                "rss_growth_mb": round(rss - idle_rss, 1)}

    try:
        builtin = run_media(port, paths, args.rate_mb, args.seconds, sample)
        with lock:
            child.stdin.write("stats\n")
            child.stdin.flush()
            final = json.loads(child.stdout.readline())
        builtin["server_refusals"] = sum(final["refusals"].values())
        builtin["peak_connections"] = final["peak"]
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    figures: dict[str, Any] = {"media": builtin, "media_idle_rss_mb": round(idle_rss, 1)}
    if ensure_nginx():
        prefix = work / "nginx"
        prefix.mkdir()
        nginx, nginx_port = start_plain_nginx(prefix, image_dir)
        try:
            plain = [f"/media/{digest}.iso"] * args.readers
            figures["nginx"] = run_media(nginx_port, plain, args.rate_mb, args.seconds)
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)
        if figures["nginx"]["mb_per_s"]:
            figures["ratio"] = round(builtin["mb_per_s"] / figures["nginx"]["mb_per_s"], 3)
    return figures


# ----- CIM listener ---------------------------------------------------------------
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
            answer = b""
            while b"</CIM>" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("listener closed the connection")
                answer += chunk
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
    from gateway.config import hash_password

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = work / "gateway.toml"
    config.write_text(textwrap.dedent(f"""\
        [gateway]
        name = "gw-bench"
        state_dir = "{work / 'state'}"
        [listener]
        http = "127.0.0.1:{port}"
        [[sources]]
        name = "bench"
        clients = ["127.0.0.0/8"]
        username = "bench"
        password_hash = "{hash_password('bench-password')}"
        owning_entities = ["FLEETFLASH"]
        image_uri_prefixes = ["http://127.0.0.1:9/fw/"]
        trusted_keys = ["{REPO / 'tests/keys/TEST-ONLY-bundle-signing.pub'}"]
        """))
    child = subprocess.Popen([sys.executable, __file__, "--serve-gateway", str(config)],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--rate-mb", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--image-mb", type=int, default=64)
    parser.add_argument("--alerts-s", type=float, default=10.0)
    parser.add_argument("--flood", type=int, default=500)
    parser.add_argument("--malloc-arena-max", type=int, default=0,
                        help="MALLOC_ARENA_MAX for the media server process (0: unset)")
    parser.add_argument("--skip-media", action="store_true")
    parser.add_argument("--skip-cim", action="store_true")
    parser.add_argument("--serve-media", help=argparse.SUPPRESS)
    parser.add_argument("--serve-gateway", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_media:
        return serve_media(args.serve_media)
    if args.serve_gateway:
        return serve_gateway(args.serve_gateway)
    raise_fd_limit()
    figures: dict[str, Any] = {"readers": args.readers, "rate_mb_per_reader": args.rate_mb,
                               "seconds": args.seconds, "image_mb": args.image_mb,
                               "malloc_arena_max": args.malloc_arena_max or None}
    with tempfile.TemporaryDirectory(prefix="fleetflash-frontdoor-") as tmp:
        if not args.skip_media:
            figures.update(media_figures(args, Path(tmp)))
        if not args.skip_cim:
            figures.update(cim_figures(args, Path(tmp)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
