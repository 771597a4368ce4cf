"""Figures of a rollout bench run read from its by-products rather than from the gateway:
CPU seconds of child processes (Linux /proc) and what the emulator's audit log shows
(components written twice, the most nodes of a group down at once)."""

from __future__ import annotations

import argparse
import json
import os
import resource
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.lab_postgres import PostgresServer


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running child process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def own_cpu_seconds() -> float:
    """User + system CPU seconds this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def database_cpu_seconds(server: PostgresServer) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster and every backend it forked
    (the backends of the closed connections are counted in the postmaster's children)."""
    pid = server.pid()
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            try:
                stat = (child / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[1] == str(pid):
                ticks += int(stat[11]) + int(stat[12])
    return round(ticks / os.sysconf("SC_CLK_TCK"), 1)


def audit_figures(audit: Path, group_of: dict[str, str], staged: bool = False
                  ) -> dict[str, Any]:
    """Components written (twice?), and the most nodes of a group down at once: from
    media insert to eject (MSC), or, staged, over every disruptive event (resets, power,
    BMC restarts, flashes) but the staging writes of BIOS, which take nothing down."""
    records = [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]
    records = [r for r in records if r["event"] != "power" or r.get("reason") != "On"]
    ends = Counter((r["bmc"], r["component"]) for r in records if r["event"] == "flash_end")
    down_events = (("reset", "power", "bmc_restart", "flash_start", "flash_end") if staged
                   else ("media_insert", "media_eject"))
    spans: dict[str, list[datetime]] = {}
    updating: set[str] = set()  # BMCs whose update began (the hosts' first boot is not)
    for record in records:
        updating |= {record["bmc"]} if record["event"] == "flash_start" else set()
        staging = record["event"] == "flash_start" and record.get("component") == "BIOS"
        if record["event"] in down_events and not (staged and staging) and (
                record["bmc"] in updating or not staged):
            spans.setdefault(record["bmc"], []).append(datetime.fromisoformat(record["ts"]))
    events = []
    for bmc, moments in spans.items():
        events += [(min(moments), 1, group_of[bmc]), (max(moments), -1, group_of[bmc])]
    current: dict[str, int] = defaultdict(int)
    peak = 0
    for _moment, delta, group in sorted(events, key=lambda e: (e[0], e[1])):
        current[group] += delta
        peak = max(peak, current[group])
    return {"components_written_twice": sum(1 for n in ends.values() if n > 1),
            "components_written": len(ends), "max_down_in_a_group": peak}


def report(figures: dict[str, Any], args: argparse.Namespace, *, topology: bool) -> None:
    """Print every figure, then the summary as one JSON line; exit non-zero when the
    rollout did not finish every node (its makespan and ratio are then absent)."""
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    print(json.dumps({k: figures[k] for k in (
        "nodes", "campaign_state", "unfinished_nodes", "makespan_s", "lower_bound_s", "ratio",
        "gateway_peak_rss_mb", "origin_bytes",
        "image_bytes", "served_bytes", "waves", "per_node_min_s", "inventory_s",
        "components_written_twice", "max_down_in_a_group", "outcomes", "database",
        "activation", "gateway_cpu_s", "bench_setup_cpu_s", "emulator_cpu_s",
        "emulator_setup_cpu_s", "db_statements",
        "db_statements_per_node", "gateways", "peer_bytes", "per_gateway", "machine",
        *(("database_cpu_s",) if "database_cpu_s" in figures else ()),
        *(("timeline",) if "timeline" in figures else ()),
        *(("staging_s",) if args.activation == "staged" else ()),
        *(("mode", "job_seconds_lost", "jobs_during_update", "jobs_completed")
          if args.manager else ()),
        *(("topology", "per_personality") if topology else ()),
        *(("requests_per_node", "requests_per_node_by_step") if args.count_requests else ()))}))
    if figures["unfinished_nodes"]:
        raise SystemExit(f"incomplete rollout: {figures['unfinished_nodes']} node(s) not done "
                         f"(campaign {figures['campaign_state']}); no makespan ratio")
