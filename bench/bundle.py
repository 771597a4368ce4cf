"""Benchmark the update bundle: build a 512 MB bundle, inspect it remotely over
loopback HTTP (Range reads), and verify it locally.

Prints its figures; the last line is one JSON object with build_s, inspect_s,
inspect_bytes and verify_mb_per_s. Usage: .venv/bin/python bench/bundle.py [--mib 512]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from flask import Flask, send_from_directory
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware_payloads import (  # noqa: E402
    BundleSpec,
    build_bundle,
    generate_keypair,
    load_private_key,
    load_public_key,
    open_bundle,
    verify_bundle,
)

MIB = 1 << 20


def bench_spec(total_mib: int) -> BundleSpec:
    """Eight packages over two models, payload sizes adding up to ``total_mib`` MiB."""
    sizes = [total_mib // 8] * 8
    sizes[-1] += total_mib - sum(sizes)
    packages = []
    for index, size in enumerate(sizes):
        component = ("BMC", "BIOS", "NIC", "RAID")[index % 4]
        model = "FF-2U-R750" if index < 4 else "FF-4U-X900"
        packages.append({
            "id": f"{component.lower()}-{model.lower()}", "component": component,
            "version": f"{index + 1}.0.0", "models": [model], "min_from_version": None,
            "requires": [], "reset": "host", "path": f"payloads/{component.lower()}-{index}.bin",
            "size": size * MIB,
        })
    return BundleSpec.from_dict({"bundle_id": "bench-512", "release": "bench",
                                 "publisher": "fleetflash bench", "packages": packages})


def serve(directory: Path) -> tuple[str, object]:
    app = Flask("bench-bundle-server")

    @app.get("/<path:name>")
    def get_file(name: str):  # type: ignore[no-untyped-def]
        return send_from_directory(directory, name, conditional=True)

    # Request log lines would land after the JSON summary, which must be last.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=512, help="total payload size in MiB")
    args = parser.parse_args()

    private_pem, public_pem = generate_keypair()
    private_key, public_key = load_private_key(private_pem), load_public_key(public_pem)
    with tempfile.TemporaryDirectory(prefix="fleetflash-bench-") as tmp:
        image = Path(tmp) / "bench.iso"
        started = time.perf_counter()
        manifest = build_bundle(bench_spec(args.mib), private_key, image)
        build_s = time.perf_counter() - started
        size = image.stat().st_size
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"build: {size / MIB:.0f} MiB image, {len(manifest.packages)} packages "
              f"in {build_s:.2f} s (peak RSS {peak_mib:.0f} MiB)")

        base_url, server = serve(Path(tmp))
        try:
            started = time.perf_counter()
            with open_bundle(f"{base_url}/{image.name}") as remote:
                remote_manifest = remote.manifest
                inspect_bytes = remote.bytes_transferred
            inspect_s = time.perf_counter() - started
        finally:
            server.shutdown()  # type: ignore[attr-defined]
        assert remote_manifest == manifest
        print(f"remote inspect over loopback: {inspect_s * 1000:.1f} ms, "
              f"{inspect_bytes} bytes transferred ({inspect_bytes / size * 100:.4f}% of image)")

        payload_bytes = sum(p.size for p in manifest.packages)
        started = time.perf_counter()
        with open_bundle(image) as local:
            verify_bundle(local, [public_key])
        verify_s = time.perf_counter() - started
        verify_mb_per_s = payload_bytes / verify_s / 1e6
        print(f"verify (signature + sha256 of {payload_bytes / MIB:.0f} MiB): {verify_s:.2f} s, "
              f"{verify_mb_per_s:.0f} MB/s")

    print(json.dumps({
        "build_s": round(build_s, 3),
        "inspect_s": round(inspect_s, 4),
        "inspect_bytes": inspect_bytes,
        "verify_mb_per_s": round(verify_mb_per_s, 1),
    }))


if __name__ == "__main__":
    main()
