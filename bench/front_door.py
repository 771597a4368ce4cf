"""Front-door benchmark: many slow media readers, and the CIM listener under a flood.

Run: .venv/bin/python bench/front_door.py [--readers 10000] [--rate-mb 1.0]
         [--seconds 20] [--image-mb 64] [--alerts-s 10] [--flood 500]
         [--malloc-arena-max N] [--skip-media] [--skip-nginx] [--skip-cim]
         [--baseline CHECKOUT] [--take-in TIMES]

1. Media: the built-in media server runs in its own process (its RSS is its own).
   --readers throttled readers in 2 client processes (tests/support/slow_readers.py:
   asyncio BufferedProtocols that count bytes into one buffer and pause reading
   to keep their rate, so the clients cost little; source addresses spread over
   127.0.0.0/16, 8 per address, like a fleet of BMCs) each GET the same image and
   read it at --rate-mb MB/s for --seconds after a connection ramp, while one
   unthrottled reader (its own process) joins half-way and measures whether a fast
   reader starves. Reported: aggregate MB/s, p99 time to first byte (null when
   over 1 % of readers never had one), when every reader had its first byte, the
   slowest reader's MB, the server's RSS growth from idle to the moment every
   reader is mid-body (or half-time), refusals (failed or non-200 readers plus the
   server's own front-door refusals: must be 0) and the fast reader's MB/s.
   Also reported: the median time to first byte and the fast reader's own time
   to first byte (a new reader arriving while every slow reader is held).
   Who was the limit: the server's and the client processes' CPU and run-queue
   wait (time runnable but waiting for a CPU, /proc/PID/task/*/schedstat) as
   cores, the clients' loop lag (how late their event loops ran: every client
   clock reading, time to first byte included, is late by as much) and how long
   their connection ramp took against the planned one. "limited_by" (see _limit)
   is "clients" when their loop lag p99 exceeded CLIENT_LAG_LIMIT_S or their ramp
   overran by RAMP_OVERRUN_S (the figures then measure the clients, not the
   server), "cpu" when moreover the server waited for a CPU longer than it ran.
   The same run against nginx (Debian package) serving the same file gives the
   ratio built-in / nginx of aggregate MB/s. --baseline CHECKOUT runs the same
   load first against another checkout's media server (before/after in one run).
2. CIM listener (bench/cim_flood.py): a gateway in its own process; 4 publishers
   send valid alerts on keep-alive connections for --alerts-s seconds, alone and
   then while --flood unauthenticated clients post as fast as they can.
   Reported: alerts/s of both.
3. --take-in TIMES (alone): the media server's CPU seconds per connection to take
   in --readers readers connecting at once (head, first bytes, then no reading),
   alternating --baseline's server and this one's, TIMES runs each.
Last line: one JSON object with every figure and the parameters used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.cim_flood import cim_figures  # noqa: E402
from bench.common import bench_parser  # noqa: E402
from bench.media import ensure_nginx, free_port, rss_mb, run_nginx  # noqa: E402
from gateway.media import CapabilityGrant, CapabilitySigner, media_url  # noqa: E402
from tests.support.slow_readers import (  # noqa: E402
    RAMP_BATCH,
    RAMP_PAUSE_S,
    ReaderProcess,
    raise_fd_limit,
    sched_seconds,
)

MB = 1_000_000
CLIENT_PROCESSES = 2
CLIENT_LAG_LIMIT_S = 0.5
RAMP_OVERRUN_S = 2.0


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
                          "peak": server.peak_connections,
                          "cpu_s": time.process_time()}), flush=True)
    server.stop()


def run_media(port: int, paths: list[str], rate_mb: float, seconds: float,
              sample: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Throttled readers in CLIENT_PROCESSES processes, plus one unthrottled reader
    joining half-way; aggregate MB/s counts the throttled readers only. `sample()`
    runs once every reader has had its first byte (or at half-time if not)."""
    ramp_s = len(paths) / RAMP_BATCH * RAMP_PAUSE_S + 1
    started = time.monotonic()
    slow = [ReaderProcess(port, paths[i::CLIENT_PROCESSES], rate_mb * MB, seconds + ramp_s,
                          i * len(paths))
            for i in range(CLIENT_PROCESSES)]
    half_time = started + ramp_s + seconds / 2
    all_in: float | None = None
    while all_in is None and time.monotonic() < half_time:
        if sum(child.report()["receiving"] for child in slow) >= len(paths):
            all_in = time.monotonic() - started
        else:
            time.sleep(0.25)
    peak = sample() if sample is not None else {}
    time.sleep(max(0.0, half_time - time.monotonic()))
    fast = ReaderProcess(port, paths[:1], 0.0, seconds / 2, CLIENT_PROCESSES * len(paths))
    fast_result = fast.finish()
    results = [child.finish() for child in slow]
    # Readers that never had a first byte count as slower than any that did.
    ttfb = sorted(t for r in results for t in r["ttfb"])
    ttfb += [float("inf")] * (len(paths) - len(ttfb))
    p99 = ttfb[max(0, int(len(ttfb) * 0.99) - 1)] if ttfb else None
    p50 = ttfb[max(0, len(ttfb) // 2 - 1)] if ttfb else None
    errors = [e for r in [*results, fast_result] for e in r["errors"]]
    slow_bytes = sum(r["bytes"] for r in results)
    clients = _client_figures(results, time.monotonic() - started,
                              len(paths) / CLIENT_PROCESSES / RAMP_BATCH * RAMP_PAUSE_S)
    # Over the readers' whole time, ramp included: a lower bound of the rate after it.
    return {"mb_per_s": round(slow_bytes / MB / (seconds + ramp_s), 1),
            "ttfb_p50_s": _seconds(p50), "ttfb_p99_s": _seconds(p99),
            "all_first_bytes_after_s": round(all_in, 1) if all_in is not None else None,
            "readers_with_first_byte": sum(len(r["ttfb"]) for r in results),
            "slowest_reader_mb": round(min(r["min_reader_bytes"] for r in results) / MB, 2),
            "client_errors": len(errors), "first_error": errors[0] if errors else None,
            "fast_reader_mb_per_s": round(fast_result["bytes"] / MB / (seconds / 2), 1),
            # A new reader joining while every slow reader is held: its wait for a first byte.
            "fast_reader_ttfb_s": _seconds(min(fast_result["ttfb"], default=None)),
            **peak, "clients": clients}


def _limit(figures: dict[str, Any]) -> str:
    """What bounded a run: "server" (it had its CPU and was still the limit), "clients"
    (their loop lag or ramp: the figures measure them), or "cpu" (both starved: the
    server waited for a CPU longer than it ran, and the clients were late too)."""
    server_starved = (figures.get("server_run_queue_wait_cores", 0.0)
                      > figures.get("server_cores_used", 0.0))
    if figures["clients"]["bound"]:
        return "cpu" if server_starved else "clients"
    return "server"


def _client_figures(results: list[dict[str, Any]], elapsed: float, planned_ramp_s: float
                    ) -> dict[str, Any]:
    """The slow-reader processes' own load: were they, not the server, the limit?"""
    lag_p99 = max((r["loop_lag_p99_s"] or 0.0) for r in results)
    ramp = max((r["ramp_s"] or 0.0) for r in results)
    return {"cpu_cores": round(sum(r["cpu_s"] for r in results) / elapsed, 2),
            "run_queue_wait_cores": round(
                sum(r["run_queue_wait_s"] for r in results) / elapsed, 2),
            "loop_lag_p50_s": round(max((r["loop_lag_p50_s"] or 0.0) for r in results), 3),
            "loop_lag_p99_s": round(lag_p99, 3),
            "loop_lag_max_s": round(max((r["loop_lag_max_s"] or 0.0) for r in results), 3),
            "ramp_s": round(ramp, 2), "planned_ramp_s": round(planned_ramp_s, 2),
            "bound": lag_p99 > CLIENT_LAG_LIMIT_S or ramp > planned_ramp_s + RAMP_OVERRUN_S}


def _seconds(value: float | None) -> float | None:
    return round(value, 3) if value is not None and value != float("inf") else None


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


def _bench_image(args: argparse.Namespace, work: Path) -> tuple[Path, bytes, list[str]]:
    """WORK/images/<sha256>.iso of --image-mb random bytes, a secret, and one capability
    path per reader."""
    image_dir = work / "images"
    image_dir.mkdir()
    data = os.urandom(args.image_mb * MB)
    digest = hashlib.sha256(data).hexdigest()
    (image_dir / f"{digest}.iso").write_bytes(data)
    secret = os.urandom(32)
    signer = CapabilitySigner([secret])
    expires = int(time.time()) + 3600
    urls = [media_url("http://x", signer.mint(CapabilityGrant(digest, "bench", f"bmc-{i}",
                                                               expires)), "image.iso")
            for i in range(args.readers)]
    return image_dir, secret, ["/" + u.split("/", 3)[3] for u in urls]


def media_figures(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    image_dir, secret, paths = _bench_image(args, work)
    digest = next(image_dir.iterdir()).stem
    figures: dict[str, Any] = {}
    if args.baseline:
        # The same load against another checkout's media server (e.g. main), first.
        baseline, idle = builtin_figures(args, Path(args.baseline), image_dir, secret, paths)
        figures |= {"media_baseline": baseline, "media_baseline_idle_rss_mb": idle}
    builtin, idle = builtin_figures(args, REPO, image_dir, secret, paths)
    figures |= {"media": builtin, "media_idle_rss_mb": idle}
    if args.baseline and figures["media_baseline"]["mb_per_s"]:
        figures["ratio_vs_baseline"] = round(
            builtin["mb_per_s"] / figures["media_baseline"]["mb_per_s"], 3)
    if not args.skip_nginx and ensure_nginx():
        prefix = work / "nginx"
        prefix.mkdir()
        nginx, nginx_port = start_plain_nginx(prefix, image_dir)
        try:
            plain = [f"/media/{digest}.iso"] * args.readers
            figures["nginx"] = run_media(nginx_port, plain, args.rate_mb, args.seconds)
            figures["nginx"]["limited_by"] = _limit(figures["nginx"])
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)
        if figures["nginx"]["mb_per_s"]:
            figures["ratio"] = round(builtin["mb_per_s"] / figures["nginx"]["mb_per_s"], 3)
    return figures


class MediaChild:
    """The media server of a checkout in its own process (bench/front_door.py
    --serve-media there), asked for its stats over a pipe."""

    def __init__(self, args: argparse.Namespace, checkout: Path, image_dir: Path,
                 secret: bytes) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(checkout / "bench" / "front_door.py"), "--serve-media",
             str(image_dir)], cwd=checkout, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env={**os.environ, "FLEETFLASH_BENCH_SECRET": secret.hex(),
                            **({"MALLOC_ARENA_MAX": str(args.malloc_arena_max)}
                               if args.malloc_arena_max else {})})
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self._lock = threading.Lock()

    def stats(self) -> dict[str, Any]:
        """Connections, refusals, peak, cpu_s (process time) and run_queue_s (waiting)."""
        with self._lock:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write("stats\n")
            self.process.stdin.flush()
            answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        answer["run_queue_s"] = sched_seconds(self.process.pid)[1]
        return answer

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def builtin_figures(args: argparse.Namespace, checkout: Path, image_dir: Path,
                    secret: bytes, paths: list[str]) -> tuple[dict[str, Any], float]:
    """One run against the media server of `checkout` (its own process); returns the
    figures and the server's idle RSS."""
    child = MediaChild(args, checkout, image_dir, secret)
    time.sleep(0.5)
    idle_rss, _ = rss_mb(child.process.pid)

    def sample() -> dict[str, Any]:
        connections = child.stats()["connections"]
        rss, _ = rss_mb(child.process.pid)
        return {"connections_at_sample": connections,
                "rss_growth_mb": round(rss - idle_rss, 1)}

    try:
        started, before = time.monotonic(), child.stats()
        builtin = run_media(child.port, paths, args.rate_mb, args.seconds, sample)
        final = child.stats()
        builtin["server_refusals"] = sum(final["refusals"].values())
        builtin["peak_connections"] = final["peak"]
        # The server's CPU (user + system) over the run, and as a share of one core.
        cpu = final["cpu_s"] - before["cpu_s"]
        builtin["server_cpu_s"] = round(cpu, 1)
        elapsed = time.monotonic() - started
        builtin["server_cores_used"] = round(cpu / elapsed, 2)
        # Runnable but waiting for a CPU (a starved server), as cores.
        builtin["server_run_queue_wait_cores"] = round(
            (final["run_queue_s"] - before["run_queue_s"]) / elapsed, 2)
        builtin["limited_by"] = _limit(builtin)
    finally:
        child.stop()
    return builtin, round(idle_rss, 1)


def take_in_figures(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """--take-in: the server's CPU per connection to take in --readers readers that
    all connect at once, each reading its head and first bytes and then nothing
    (no fast reader, no body traffic after): alternately --baseline's and this
    checkout's server, --take-in times each. CPU seconds, not wall time, are what
    a loaded machine leaves comparable."""
    image_dir, secret, paths = _bench_image(args, work)
    runs: list[dict[str, Any]] = []
    checkouts = [Path(args.baseline), REPO] if args.baseline else [REPO]
    for _ in range(args.take_in):
        for checkout in checkouts:
            child = MediaChild(args, checkout, image_dir, secret)
            try:
                time.sleep(0.5)
                before, started = child.stats(), time.monotonic()
                load = os.getloadavg()[0]
                readers = [ReaderProcess(child.port, paths[i::CLIENT_PROCESSES], 100.0, 600,
                                         i * len(paths)) for i in range(CLIENT_PROCESSES)]
                while (sum(r.report()["receiving"] for r in readers) < len(paths)
                       and time.monotonic() - started < 300):
                    time.sleep(0.1)
                took, after = time.monotonic() - started, child.stats()
                ttfb = sorted(t for r in readers for t in r.finish(stop=True)["ttfb"])
            finally:
                child.stop()
            cpu = after["cpu_s"] - before["cpu_s"]
            runs.append({"checkout": "baseline" if checkout != REPO else "this",
                         "load_avg": round(load, 1), "all_in_s": round(took, 2),
                         "readers_in": len(ttfb), "server_cpu_s": round(cpu, 2),
                         "server_cpu_us_per_connection": round(cpu / len(paths) * 1e6),
                         "server_run_queue_wait_s": round(
                             after["run_queue_s"] - before["run_queue_s"], 2),
                         "ttfb_p50_s": _seconds(ttfb[len(ttfb) // 2] if ttfb else None),
                         "ttfb_p99_s": _seconds(
                             ttfb[max(0, int(len(ttfb) * 0.99) - 1)] if ttfb else None)})
    return {"take_in": runs}


def main() -> None:
    parser = bench_parser(__doc__, readers=10_000, rate_mb=1.0, seconds=20.0, image_mb=64,
                          alerts_s=10.0, flood=500)
    parser.add_argument("--malloc-arena-max", type=int, default=0,
                        help="MALLOC_ARENA_MAX for the media server process (0: unset)")
    parser.add_argument("--skip-media", action="store_true")
    parser.add_argument("--skip-cim", action="store_true")
    parser.add_argument("--skip-nginx", action="store_true")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="also run the media load, first, against the media server of "
                             "this checkout (e.g. a worktree of main) for before/after")
    parser.add_argument("--take-in", type=int, default=0, metavar="TIMES",
                        help="only measure the server's CPU per connection taking in "
                             "--readers at once, TIMES runs (alternating with --baseline)")
    parser.add_argument("--serve-media", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_media:
        return serve_media(args.serve_media)
    raise_fd_limit()
    figures: dict[str, Any] = {"readers": args.readers, "rate_mb_per_reader": args.rate_mb,
                               "seconds": args.seconds, "image_mb": args.image_mb,
                               "malloc_arena_max": args.malloc_arena_max or None,
                               # Other work on the machine starves a Python server of CPU
                               # (and of the GIL) far more than nginx: say how busy it was.
                               "load_avg_before": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory(prefix="fleetflash-frontdoor-") as tmp:
        if args.take_in:
            figures.update(take_in_figures(args, Path(tmp)))
        elif not args.skip_media:
            figures.update(media_figures(args, Path(tmp)))
        if not args.skip_cim and not args.take_in:
            figures.update(cim_figures(args, Path(tmp)))
    figures["load_avg_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
