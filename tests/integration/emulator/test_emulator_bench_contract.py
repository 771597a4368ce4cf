"""The emulator benches keep their contract: the last output line is one JSON
object with the named figures (values are not judged here; that is the bench's job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_bench_prints_its_figures_as_json_last() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "emulator_scale.py"), "--nodes", "6",
         "--clients", "3", "--seconds", "1"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == {"nodes", "start_s", "rss_mb", "rss_after_load_mb", "req_per_s",
                            "p50_ms", "p99_ms", "server_cores", "server_cpu_us_per_req",
                            "client_cores"}
    assert figures["nodes"] == 6
    assert figures["req_per_s"] > 0 and figures["rss_mb"] > 0
    assert figures["server_cpu_us_per_req"] > 0 and figures["client_cores"] > 0


def test_app_cost_bench_prints_its_figure_as_json_last() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "emulator_app_cost.py"), "--requests", "200"],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == {"requests", "us_per_request"}
    assert figures["requests"] == 200 and figures["us_per_request"] > 0
