"""The extra gateways of `bench/rollout.py --gateways N`: N-1 `fleetflash gateway serve`
processes sharing the in-process gateway's PostgreSQL database (lab/lab_fleet.py starts
them as `lab up --gateways N` does), and the figures of every member of the fleet.

Each extra gateway has its own name, ports and state directory (so its own image cache:
it reads the image from a peer, never from the origin), the first one's media secret,
and an API listener whose /metrics the bench reads with an admin token.

Per gateway (``per_gateway``): peak RSS (this process's, or the child's VmHWM), CPU
seconds, SQL statements, ``peer_bytes`` (image bytes read from peers,
``fleetflash_peer_image_bytes_total``), bytes its media server served, and the nodes
it drove; fleet-wide: ``peer_bytes`` and the statements of every gateway."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families
from rollout_figures import cpu_seconds

from gateway.config import load_config
from gateway.media.config import media_config
from gateway.service import Gateway
from gateway.store import statements_executed
from lab import lab_processes as procs
from lab.lab_fleet import admin_token, member_config, start_member

# write(path, listener_port, api_port) -> the gateway TOML at `path`, as the first one's
# but on fresh ports, with an [api] listener on `api_port` and no database_url.
ConfigWriter = Callable[[Path, int, int], Path]


@dataclass(frozen=True)
class Member:
    """One extra gateway process of the fleet."""

    name: str
    process: subprocess.Popen[bytes]
    api_url: str
    media_url: str
    token: str


def start_members(work: Path, count: int, write: ConfigWriter, database_url: str
                  ) -> list[Member]:
    """Start gateways 2..`count` on `database_url`; each is running when this returns
    (the ones started are stopped again if one fails)."""
    members: list[Member] = []
    token = ""  # one database: one admin token serves every member
    try:
        for index in range(2, count + 1):
            suffix = f"-{index}"
            api_port, listener_port = procs.free_port(), procs.free_port()
            path = write(work / f"gateway{suffix}.toml", listener_port, api_port)
            path.write_text(member_config(
                path.read_text(encoding="utf-8"), suffix=suffix,
                state_dir=work / f"state{suffix}", database_url=database_url,
                first_state_dir=work / "state"), encoding="utf-8")
            config = load_config(path)
            token = token or admin_token(path)
            process = start_member(f"gateway{suffix}", path, work, api_port, listener_port)
            members.append(Member(config.name, process, f"http://127.0.0.1:{api_port}",
                                  media_config(config).base_url, token))
    except BaseException:
        stop_members(members)
        raise
    return members


def stop_members(members: list[Member]) -> None:
    for member in members:
        procs.stop(member.process.pid, "gateway")


def _metrics(member: Member) -> dict[str, float]:
    """The unlabelled counters of the member's /metrics, by sample name."""
    response = requests.get(member.api_url + "/metrics", timeout=30,
                            headers={"Authorization": f"Bearer {member.token}"})
    response.raise_for_status()
    return {sample.name: sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples if not sample.labels}


def _peak_rss_mb(pid: int) -> float:
    """VmHWM of a running process (Linux /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise SystemExit(f"/proc/{pid}/status has no VmHWM")


def media_urls(gateway: Gateway, members: list[Member]) -> dict[str, str]:
    """Each gateway's media server URL -> its name (the in-process gateway first)."""
    return {media_config(gateway.config).base_url: gateway.config.name} | {
        member.media_url: member.name for member in members}


def drivers(audit: Path, urls: dict[str, str]) -> dict[str, str]:
    """BMC -> the gateway that drove it: the one whose media server (``urls``: URL ->
    name) a URL in the BMC's audit records names (its virtual media or update URL)."""
    driver: dict[str, str] = {}
    for line in audit.read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        for value in record.values():
            for url, name in urls.items():
                if isinstance(value, str) and value.startswith(url + "/"):
                    driver[record["bmc"]] = name
    return driver


def fleet_figures(gateway: Gateway, members: list[Member], audit: Path, nodes: int,
                  setup_cpu_s: float = 0.0) -> dict[str, Any]:
    """Per gateway: peak RSS, CPU seconds, SQL statements, peer and served image bytes,
    and the nodes it drove (the BMCs whose virtual media or update URL names its media
    server, from the emulator's audit log); fleet-wide: statements (per node of the
    `nodes` of the campaign) and peer bytes.
    Read while the extra gateways still run. The in-process gateway's RSS and CPU are
    this process's (the bench's own waiting is a small part of them), its CPU less the
    `setup_cpu_s` the bench spent before building the gateway."""
    orchestration = gateway.orchestration
    assert orchestration is not None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rows: list[dict[str, Any]] = [{
        "name": gateway.config.name, "pid": os.getpid(),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime - setup_cpu_s, 1),
        "db_statements": statements_executed(gateway.store.engine),
        "peer_bytes": orchestration.peers.peer_bytes if orchestration.peers else 0,
        "served_bytes": orchestration.media.counters.snapshot().total_bytes}]
    for member in members:
        metrics = _metrics(member)
        rows.append({
            "name": member.name, "pid": member.process.pid,
            "peak_rss_mb": _peak_rss_mb(member.process.pid),
            "cpu_s": cpu_seconds(member.process.pid),
            "db_statements": int(metrics["fleetflash_db_statements_total"]),
            "peer_bytes": int(metrics["fleetflash_peer_image_bytes_total"]),
            "served_bytes": int(metrics["fleetflash_media_served_bytes_total"])})
    driven = Counter(drivers(audit, media_urls(gateway, members)).values())
    for row in rows:
        row["nodes_driven"] = driven[row["name"]]
    statements = sum(r["db_statements"] for r in rows)
    return {"gateways": len(rows), "per_gateway": rows, "db_statements": statements,
            "db_statements_per_node": round(statements / nodes, 1) if nodes else None,
            "peer_bytes": sum(r["peer_bytes"] for r in rows)}
