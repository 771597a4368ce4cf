"""Benchmark the gateway intake over loopback.

- latency: CIM alert sent -> image verified in the cache, for a 256 MiB bundle;
- throughput: 1000 alerts (10 distinct images, the rest replays/duplicates),
  sent by 4 concurrent publishers, alerts accepted per second;
- memory: the gateway's RSS growth while it downloads and verifies the image
  (sampled from /proc), for the big bundle and a 32 MiB one: it must not grow
  with the image size.

The gateway runs as its own process (`fleetflash gateway serve`), so its RSS is
not mixed with the publisher's. Last line: JSON with latency_s, alerts_per_s,
rss_growth_mb. Usage: .venv/bin/python bench/intake.py [--mib 256] [--alerts 1000]
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pywbem

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_gateway_config  # noqa: E402
from emulator.publisher import (  # noqa: E402
    BundleServer,
    send_indication,
    update_available_indication,
)
from firmware_payloads import BundleSpec, build_bundle, load_private_key, write_keypair  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.media.cache import file_sha256  # noqa: E402
from gateway.store import GatewayStore, ImageState  # noqa: E402

MIB = 1 << 20
USER, PASSWORD = "bench", "bench-password"
REPO = Path(__file__).resolve().parent.parent


def spec(bundle_id: str, total_mib: float) -> BundleSpec:
    sizes = [int(total_mib * MIB) // 4] * 4
    packages = [{"id": f"pkg-{i}", "component": ("BMC", "BIOS", "NIC", "RAID")[i],
                 "version": "1.0.0", "models": ["FF-BENCH"], "min_from_version": None,
                 "requires": [], "reset": "none", "path": f"payloads/pkg-{i}.bin", "size": size}
                for i, size in enumerate(sizes)]
    return BundleSpec.from_dict({"bundle_id": bundle_id, "release": "bench",
                                 "publisher": "fleetflash bench", "packages": packages})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Gateway:
    """A `fleetflash gateway serve` process with its own state directory."""

    def __init__(self, work: Path, prefix: str, public_key: Path) -> None:
        self.port = free_port()
        work.mkdir(parents=True, exist_ok=True)
        self.config_path = bench_gateway_config(
            work, self.port, name="bench", username=USER, password=PASSWORD,
            image_uri_prefix=prefix, trusted_key=public_key, cache_max_size="4GiB")
        self.log = open(work / "gateway.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lab.cli", "gateway", "serve", "--config",
             str(self.config_path)], cwd=REPO, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = GatewayStore.open(load_config(self.config_path).database_url)

    def announce(self, uri: str, sha: str, bundle_id: str, identifier: str) -> None:
        send_indication(self.url, update_available_indication(
            image_uri=uri, image_sha256=sha, bundle_id=bundle_id, release="bench",
            identifier=identifier), user=USER, password=PASSWORD)

    def state(self, sha: str) -> ImageState | None:
        try:
            return self.store.get_image(sha).state
        except Exception:  # noqa: BLE001 - not there yet
            return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.store.close()
        self.log.close()


def measure_download(gateway: Gateway, server: BundleServer, bundle: Path,
                     bundle_id: str) -> tuple[float, float]:
    """(seconds from alert to verified, RSS growth in MB during the acquisition)."""
    sha = file_sha256(bundle)
    baseline = rss_mb(gateway.process.pid)
    peak = baseline
    start = time.perf_counter()
    gateway.announce(server.url_for(bundle), sha, bundle_id, f"latency-{bundle_id}")
    while gateway.state(sha) != ImageState.VERIFIED:
        peak = max(peak, rss_mb(gateway.process.pid))
        state = gateway.state(sha)
        if state in (ImageState.REJECTED, ImageState.FAILED):
            raise SystemExit(f"image {state}: {gateway.store.get_image(sha).reason}")
        time.sleep(0.02)
    return time.perf_counter() - start, peak - baseline


def measure_alert_rate(gateway: Gateway, server: BundleServer, bundles: list[Path],
                       total: int, senders: int = 4) -> tuple[float, Counter[str]]:
    digests = [file_sha256(b) for b in bundles]
    before = {a.id for a in gateway.store.list_alerts(100_000)}
    jobs = [(server.url_for(bundles[i % len(bundles)]), digests[i % len(bundles)],
             f"rate-{i % len(bundles)}", f"rate-alert-{i}") for i in range(total)]
    lock = threading.Lock()
    cursor = iter(jobs)

    def sender() -> None:
        # One keep-alive connection per publisher thread, as a CIMOM would hold.
        connection = pywbem.WBEMConnection(gateway.url, creds=(USER, PASSWORD))
        try:
            while True:
                with lock:
                    job = next(cursor, None)
                if job is None:
                    return
                uri, sha, bundle_id, identifier = job
                connection.ExportIndication(NewIndication=update_available_indication(
                    image_uri=uri, image_sha256=sha, bundle_id=bundle_id, release="bench",
                    identifier=identifier))
        finally:
            connection.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        for future in [pool.submit(sender) for _ in range(senders)]:
            future.result()
    elapsed = time.perf_counter() - start
    decisions = Counter(str(a.decision) for a in gateway.store.list_alerts(100_000)
                        if a.id not in before)
    return total / elapsed, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="big bundle size in MiB")
    parser.add_argument("--small-mib", type=int, default=32, help="comparison bundle size")
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=10)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        work = Path(tmp)
        private_path, public_path = write_keypair(work / "keys")
        key = load_private_key(private_path)
        site = work / "site"
        site.mkdir()
        started = time.perf_counter()
        big = site / "big.iso"
        build_bundle(spec("bench-big", args.mib), key, big)
        small = site / "small.iso"
        build_bundle(spec("bench-small", args.small_mib), key, small)
        rate_bundles = []
        for i in range(args.distinct):
            path = site / f"rate-{i}.iso"
            build_bundle(spec(f"rate-{i}", 0.0625), key, path)
            rate_bundles.append(path)
        print(f"built bundles in {time.perf_counter() - started:.1f} s "
              f"({big.stat().st_size / MIB:.0f} MiB, {small.stat().st_size / MIB:.0f} MiB, "
              f"{args.distinct} small)")

        with BundleServer([big, small, *rate_bundles]) as server:
            gateway = Gateway(work / "gw", server.base_url, public_path)
            try:
                small_latency, small_rss = measure_download(gateway, server, small,
                                                            "bench-small")
                print(f"{args.small_mib} MiB: alert -> verified {small_latency:.2f} s, "
                      f"gateway RSS growth {small_rss:.1f} MB")
                latency, rss_growth = measure_download(gateway, server, big, "bench-big")
                print(f"{args.mib} MiB: alert -> verified {latency:.2f} s "
                      f"({args.mib / latency:.0f} MiB/s), gateway RSS growth {rss_growth:.1f} MB")
                rate, decisions = measure_alert_rate(gateway, server, rate_bundles,
                                                     args.alerts)
                print(f"{args.alerts} alerts ({args.distinct} distinct images): "
                      f"{rate:.0f} alerts/s; decisions {dict(decisions)}")
                if decisions.get("accepted") != args.distinct:
                    raise SystemExit("deduplication failed: expected "
                                     f"{args.distinct} accepted, got {dict(decisions)}")
            finally:
                gateway.stop()
    print(json.dumps({"latency_s": round(latency, 3), "alerts_per_s": round(rate, 1),
                      "rss_growth_mb": round(rss_growth, 1),
                      "rss_growth_small_mb": round(small_rss, 1),
                      "bundle_mib": args.mib}))


if __name__ == "__main__":
    main()
