"""Emulator scale benchmark: N BMCs in one process under C concurrent clients.

Prints the time until every BMC answers, the emulator's RSS before and after
the load, and GET latency (p50/p99) and throughput with C concurrent clients.
The clients run in a separate process (asyncio, one keep-alive connection per
client and BMC, each client polling its share of the BMCs round-robin with a
mix of the resources a gateway reads), so client and emulator do not share a
GIL. Both processes' CPU is reported too: on a 2-core machine the client
takes a share of the same cores the emulator runs on. The last line is one
JSON object: nodes, start_s, rss_mb, rss_after_load_mb, req_per_s, p50_ms,
p99_ms, server_cores, server_cpu_us_per_req, client_cores.

    .venv/bin/python bench/emulator_scale.py [--nodes 1000] [--clients 100] [--seconds 20]

Before and after in one run: ``--compare-with REF`` exports git commit REF
to a temporary directory and alternates runs of REF's emulator and this
tree's (``--rounds`` of each), all measured by this script, so both see the
same machine load; it prints every run and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PATHS = (
    "/redfish/v1/Systems/1",
    "/redfish/v1/Managers/1",
    "/redfish/v1/UpdateService/FirmwareInventory/BIOS",
    "/redfish/v1/TaskService/Tasks",
)


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


# ---------------------------------------------------------------------------- load process
async def _client(targets: list[dict[str, str]], deadline: float, warmup_end: float,
                  latencies: list[float], errors: list[str], done: list[int]) -> None:
    streams: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
    index = 0
    while time.monotonic() < deadline:
        node = targets[index % len(targets)]
        path = PATHS[index % len(PATHS)]
        index += 1
        auth = base64.b64encode(f"{node['username']}:{node['password']}".encode()).decode()
        port = int(node["url"].rsplit(":", 1)[1])
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   f"Authorization: Basic {auth}\r\nAccept: application/json\r\n\r\n").encode()
        started = time.perf_counter()
        try:
            if node["id"] not in streams:
                streams[node["id"]] = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = streams[node["id"]]
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(type(exc).__name__)
            streams.pop(node["id"], None)
            continue
        elapsed = time.perf_counter() - started
        done[0] += 1
        if status != 200:
            errors.append(f"HTTP {status}")
        elif time.monotonic() >= warmup_end:
            latencies.append(elapsed)
    for _reader, writer in streams.values():
        writer.close()


async def _load(inventory: list[dict[str, str]], clients: int, seconds: float) -> dict[str, float]:
    warmup = min(3.0, seconds / 4)
    start = time.monotonic()
    warmup_end = start + warmup
    deadline = warmup_end + seconds
    latencies: list[float] = []
    errors: list[str] = []
    done = [0]  # every answered request, warm-up included
    shares = [inventory[i::clients] for i in range(clients)]
    cpu_started = time.process_time()
    await asyncio.gather(*(_client(share, deadline, warmup_end, latencies, errors, done)
                           for share in shares if share))
    wall = time.monotonic() - start
    latencies.sort()
    return {
        "all_requests": done[0],
        "client_cores": (time.process_time() - cpu_started) / wall,
        "requests": len(latencies),
        "errors": len(errors),
        "req_per_s": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


def load_main(inventory_path: str, clients: int, seconds: float) -> None:
    inventory = json.loads(Path(inventory_path).read_text())
    print(json.dumps(asyncio.run(_load(inventory, clients, seconds))))


# ---------------------------------------------------------------------------- emulator process
def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start the cluster, load it from a client process, return the figures."""
    sys.path.insert(0, args.tree or str(REPO_ROOT))
    from emulator.cluster import EmulatedCluster

    rss_before_start = rss_mb()
    started = time.perf_counter()
    cluster = EmulatedCluster(nodes=args.nodes, base_port=None,
                              worker_threads=args.workers).start()
    start_s = time.perf_counter() - started  # start() returns once every BMC answered
    # Long-lived start-up objects never need collecting; keeps GC pauses short.
    gc.collect()
    gc.freeze()
    try:
        rss_start = rss_mb()
        print(f"{args.nodes} BMCs answering after {start_s:.2f} s; RSS {rss_start:.0f} MiB "
              f"(interpreter and libraries before start: {rss_before_start:.0f} MiB)")
        inventory = Path(f"/tmp/fleetflash-bench-inventory-{os.getpid()}.json")
        cluster.write_inventory(inventory)
        print(f"load: {args.clients} concurrent clients for {args.seconds:.0f} s "
              f"(+ warm-up) in a separate process ...", flush=True)
        cpu_started, load_started = _cpu_s(), time.monotonic()
        result = subprocess.run(
            [sys.executable, __file__, "--load-from", str(inventory), "--clients",
             str(args.clients), "--seconds", str(args.seconds)],
            capture_output=True, text=True, check=True,
        )
        server_cpu, load_wall = _cpu_s() - cpu_started, time.monotonic() - load_started
        inventory.unlink()
        load = json.loads(result.stdout.strip().splitlines()[-1])
        rss_after = rss_mb()
    finally:
        cluster.stop()
    print(f"{load['requests']} GETs, {load['errors']} errors, {load['req_per_s']:.0f} req/s, "
          f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, "
          f"max {load['max_ms']:.1f} ms; RSS after load {rss_after:.0f} MiB")
    # The client process's lifetime (start-up included) is the window for both.
    print(f"CPU: emulator {server_cpu / load_wall:.2f} cores "
          f"({server_cpu / load['all_requests'] * 1e6:.0f} us per request), "
          f"client {load['client_cores']:.2f} cores, of 2 shared with everything else")
    return {
        "nodes": args.nodes,
        "start_s": round(start_s, 2),
        "rss_mb": round(rss_start, 1),
        "rss_after_load_mb": round(rss_after, 1),
        "req_per_s": round(load["req_per_s"], 1),
        "p50_ms": round(load["p50_ms"], 2),
        "p99_ms": round(load["p99_ms"], 2),
        "server_cores": round(server_cpu / load_wall, 2),
        "server_cpu_us_per_req": round(server_cpu / load["all_requests"] * 1e6, 1),
        "client_cores": round(load["client_cores"], 2),
    }


def compare(args: argparse.Namespace) -> None:
    """Alternate runs of commit args.compare_with's emulator and this tree's."""
    with tempfile.TemporaryDirectory(prefix="fleetflash-bench-") as before_tree:
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", args.compare_with],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", before_tree], input=archive, check=True)
        trees = {f"before ({args.compare_with})": before_tree, "after (this tree)": str(REPO_ROOT)}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        common = ["--nodes", str(args.nodes), "--clients", str(args.clients),
                  "--seconds", str(args.seconds), "--workers", str(args.workers)]
        for round_number in range(1, args.rounds + 1):
            for name, tree in trees.items():
                print(f"round {round_number}: {name}", flush=True)
                result = subprocess.run([sys.executable, __file__, "--tree", tree, *common],
                                        capture_output=True, text=True, check=True)
                figures = json.loads(result.stdout.strip().splitlines()[-1])
                figures["load_avg"] = round(os.getloadavg()[0], 1)
                runs[name].append(figures)
                print("  " + json.dumps(figures), flush=True)
    medians = {name: {key: round(statistics.median(run[key] for run in found), 2)
                      for key in found[0]} for name, found in runs.items()}
    for name, figures in medians.items():
        print(f"median {name}: " + json.dumps(figures))
    print(json.dumps({"before": medians[f"before ({args.compare_with})"],
                      "after": medians["after (this tree)"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load duration")
    parser.add_argument("--workers", type=int, default=8, help="emulator WSGI worker threads")
    parser.add_argument("--compare-with", metavar="REF",
                        help="also measure git commit REF's emulator, alternating runs")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each tree with --compare-with")
    parser.add_argument("--tree", help=argparse.SUPPRESS)  # internal: the emulator to import
    parser.add_argument("--load-from", help=argparse.SUPPRESS)  # internal: run the clients
    args = parser.parse_args()
    if args.load_from:
        load_main(args.load_from, args.clients, args.seconds)
    elif args.compare_with:
        compare(args)
    else:
        print(json.dumps(measure(args)))


if __name__ == "__main__":
    main()
