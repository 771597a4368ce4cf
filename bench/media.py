"""Media fan-out benchmark: built-in server vs nginx, memory, and USB read speed.

Run: .venv/bin/python bench/media.py [--readers 64] [--image-mb 256] [--usb-mb 128]
                                     [--rounds 3]

1. Writes one random image of --image-mb MB (the "verified bundle").
2. Starts the built-in media server in its own process (so its RSS is its own),
   and --readers concurrent clients each read the whole image once through a
   capability URL; aggregate MB/s = all body bytes / wall time.
3. Starts nginx (Debian package; installed with apt-get when missing) in front of
   the same directory, authorising through the same server (auth_request), and
   repeats with the same URLs.
   Rounds alternate between the two servers; each one's best round counts.
4. Prints the media server's RSS before and after all rounds.
5. Reads --usb-mb MB through the emulated USB key backend (BOT + SCSI READ(10)).
Last line: JSON with builtin_mb_per_s, nginx_mb_per_s, ratio, rss_growth_mb, usb_mb_per_s.
Clients are plain sockets in 2 processes, reading into one reused buffer, so the
client costs the same for both servers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import bench_parser  # noqa: E402
from gateway.media import (  # noqa: E402
    CapabilityGrant,
    CapabilitySigner,
    MediaServer,
    VerifiedDirectoryCatalog,
    media_url,
)
from gateway.media.nginx import render_nginx_conf, render_nginx_site  # noqa: E402

MB = 1_000_000
NGINX = Path("/usr/sbin/nginx")


def serve(image_dir: str) -> None:
    """Child process: the built-in media server (secret from FLEETFLASH_BENCH_SECRET)."""
    signer = CapabilitySigner([bytes.fromhex(os.environ["FLEETFLASH_BENCH_SECRET"])])
    server = MediaServer(signer, VerifiedDirectoryCatalog(Path(image_dir)),
                         http=("127.0.0.1", 0), nginx_root=image_dir)
    server.start()
    print(server.bound_ports()["http"], flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024 / MB
    return fields["VmRSS"], fields["VmHWM"]


def recv_until(sock: socket.socket, marker: bytes) -> bytes:
    """Bytes from `sock` until `marker` arrived (and whatever came with it)."""
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"connection closed before {marker!r}")
        received += chunk
    return received


def read_whole(port: int, path: str) -> int:
    """GET path; return body bytes received (the body is discarded into one buffer)."""
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        head = recv_until(sock, b"\r\n\r\n")
        header, _, body_start = head.partition(b"\r\n\r\n")
        if not header.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(header.split(b"\r\n", 1)[0].decode())
        length = int(next(line.split(b":", 1)[1] for line in header.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        received = len(body_start)
        while received < length:
            count = sock.recv_into(view)
            if count == 0:
                break
            received += count
    if received != length:
        raise RuntimeError(f"short body: {received} of {length}")
    return received


def _client_process(port: int, paths: list[str], start: float, out: multiprocessing.Queue
                    ) -> None:  # type: ignore[type-arg]
    results: list[int | str] = []
    lock = threading.Lock()

    def one(path: str) -> None:
        try:
            value: int | str = read_whole(port, path)
        except Exception as exc:  # reported to the parent
            value = str(exc)
        with lock:
            results.append(value)

    time.sleep(max(0.0, start - time.time()))  # all processes begin together
    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(results)


def run_readers(port: int, paths: list[str], processes: int = 2) -> float:
    """All readers at once; returns aggregate MB/s."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    start = time.time() + 0.5
    workers = [multiprocessing.Process(target=_client_process,
                                       args=(port, paths[i::processes], start, queue))
               for i in range(processes)]
    for worker in workers:
        worker.start()
    results: list[int | str] = []
    for _ in workers:
        results += queue.get()
    elapsed = time.time() - start
    for worker in workers:
        worker.join()
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        raise RuntimeError(f"{len(errors)} readers failed, first: {errors[0]}")
    return sum(r for r in results if isinstance(r, int)) / MB / elapsed


def ensure_nginx() -> bool:
    """True when nginx is (now) installed; installs the Debian package if missing."""
    if NGINX.exists():
        return True
    print("nginx missing: installing the Debian package", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "nginx"], check=True, env=env)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"cannot install nginx ({exc}); the nginx figures are skipped", flush=True)
    return NGINX.exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_nginx(prefix: Path, conf: Path, port: int) -> tuple[subprocess.Popen[bytes], int]:
    """nginx in the foreground on `conf`, once it accepts connections on `port`."""
    process = subprocess.Popen([str(NGINX), "-p", str(prefix), "-e", str(prefix / "error.log"),
                                "-c", str(conf), "-g", "daemon off;"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not start")


def start_nginx(prefix: Path, image_dir: Path,
                gateway_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    site = render_nginx_site(listen=f"127.0.0.1:{port}", media_root=image_dir,
                             gateway=f"127.0.0.1:{gateway_port}", access_log=prefix / "access.log")
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_conf(site=site, prefix=prefix, worker_processes=2,
                                      user="root" if os.geteuid() == 0 else None))
    return run_nginx(prefix, conf, port)


def usb_throughput(image: Path, megabytes: int) -> float:
    import usb.core

    from emulator.usbkey import EmulatedKey, EmulatedUsbBackend
    from gateway.media.usb import BulkOnlyDisk, UsbBlockDevice

    backend = EmulatedUsbBackend([EmulatedKey(str(image))])
    device = next(iter(usb.core.find(find_all=True, backend=backend)))
    disk = BulkOnlyDisk(device)
    disk.open()
    block_device = UsbBlockDevice(disk)
    wanted = min(megabytes * MB, block_device.size)
    started = time.perf_counter()
    done = 0
    while done < wanted:
        chunk = block_device.read(min(1 << 20, wanted - done))
        if not chunk:
            break
        done += len(chunk)
    elapsed = time.perf_counter() - started
    disk.close()
    return done / MB / elapsed


def main() -> None:
    parser = bench_parser(__doc__, readers=64, image_mb=256, usb_mb=128, rounds=3)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    have_nginx = ensure_nginx()
    work = Path(tempfile.mkdtemp(prefix="fleetflash-bench-media-"))
    try:
        image_dir = work / "images"
        image_dir.mkdir()
        digest = hashlib.sha256()
        partial = image_dir / "image.part"
        with partial.open("wb") as out:
            for _ in range(args.image_mb):
                chunk = os.urandom(MB)
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        image = partial.rename(image_dir / f"{sha}.iso")
        secret = os.urandom(32)
        signer = CapabilitySigner([secret])
        env = {**os.environ, "FLEETFLASH_BENCH_SECRET": secret.hex()}
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(image_dir)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                  text=True)
        assert server.stdout is not None and server.stdin is not None
        port = int(server.stdout.readline())
        expires = int(time.time()) + 3600
        paths = ["/" + media_url("http://x", signer.mint(CapabilityGrant(
            sha, "bench", f"bmc-{i}", expires)), "image.iso").split("/", 3)[3]
            for i in range(args.readers)]
        read_whole(port, paths[0])  # warm-up: the catalog hashes the image once
        rss_before, _ = rss_mb(server.pid)
        print(f"image: {args.image_mb} MB, readers: {args.readers}, rounds: {args.rounds}",
              flush=True)
        nginx: subprocess.Popen[bytes] | None = None
        nginx_port = 0
        if have_nginx:
            prefix = work / "nginx"
            prefix.mkdir()
            nginx, nginx_port = start_nginx(prefix, image_dir, port)
            read_whole(nginx_port, paths[0])
        # Rounds alternate between the servers so load from other work on the
        # machine hits both alike; each server's best round is reported.
        builtin_rounds: list[float] = []
        nginx_rounds: list[float] = []
        try:
            for number in range(1, args.rounds + 1):
                builtin_rounds.append(run_readers(port, paths))
                line = f"round {number}: built-in {builtin_rounds[-1]:.0f} MB/s"
                if nginx is not None:
                    nginx_rounds.append(run_readers(nginx_port, paths))
                    line += f", nginx {nginx_rounds[-1]:.0f} MB/s"
                print(line, flush=True)
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait(timeout=30)
        rss_after, rss_peak = rss_mb(server.pid)
        builtin = max(builtin_rounds)
        via_nginx = max(nginx_rounds) if nginx_rounds else None
        print(f"built-in server: {builtin:.0f} MB/s aggregate (best round)", flush=True)
        if via_nginx is not None:
            print(f"nginx: {via_nginx:.0f} MB/s aggregate (best round)", flush=True)
        print(f"media server RSS: before {rss_before:.1f} MB, after {rss_after:.1f} MB, "
              f"peak {rss_peak:.1f} MB", flush=True)
        server.stdin.close()
        server.wait(timeout=30)
        usb = usb_throughput(image, args.usb_mb)
        print(f"USB (emulated key, READ(10) over Bulk-Only): {usb:.0f} MB/s", flush=True)
        ratio = builtin / via_nginx if via_nginx else None
        print(f"ratio built-in / nginx: {'n/a' if ratio is None else f'{ratio:.2f}'} "
              f"(target >= 0.7); RSS growth {rss_after - rss_before:.1f} MB (target <= 50)",
              flush=True)
        print(json.dumps({
            "builtin_mb_per_s": round(builtin, 1),
            "nginx_mb_per_s": None if via_nginx is None else round(via_nginx, 1),
            "ratio": None if ratio is None else round(ratio, 3),
            "rss_growth_mb": round(rss_after - rss_before, 1),
            "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1),
            "usb_mb_per_s": round(usb, 1), "readers": args.readers, "image_mb": args.image_mb,
            "builtin_rounds": [round(r) for r in builtin_rounds],
            "nginx_rounds": [round(r) for r in nginx_rounds],
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
