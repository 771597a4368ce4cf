"""`fleetflash lab status`: the lab's processes, nodes and campaigns as rich tables."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Group
from rich.table import Table

from gateway.api.client import ApiClient, ApiClientError
from lab import lab_processes as procs
from lab.lab_state import LabState
from lab.runner import MARKERS

_STEP_STYLE = {"done": "green", "quarantined": "red", "partial": "red", "failed": "red",
               "pending": "dim",
               "skipped": "yellow", "not_applicable": "dim"}


def process_table(state: LabState) -> Table:
    """One row per lab process: pid, whether it runs, where it answers."""
    table = Table(title=f"Lab {state.get('name')} ({state.workdir})", title_justify="left")
    for column in ("process", "pid", "state", "address"):
        table.add_column(column)
    addresses = {"gateway": f"API {state.api_url}  CIM {state.get('gateway.cim_url')}",
                 "publisher": str(state.get("publisher.url")),
                 "emulator": f"{len(state.get('emulator.inventory'))} BMCs, admin "
                             f"{state.get('emulator.admin_url')}"}
    for name, pid in state.pids().items():
        alive = procs.running(pid, MARKERS[name])
        if not alive and name == "gateway" and procs.answers(state.api_url + "/healthz"):
            label = "[yellow]restarted by hand (pid unknown)[/]"
        else:
            label = "[green]running[/]" if alive else "[red]stopped[/]"
        table.add_row(name, str(pid), label, addresses[name])
    return table


def _style(step: str) -> str:
    style = _STEP_STYLE.get(step, "cyan")
    return f"[{style}]{step}[/]"


def node_table(nodes: list[dict[str, Any]]) -> Table:
    """Per cluster: nodes, how many per step, per model and per health (unknown until the
    gateway first inventories them, at the first campaign)."""
    table = Table(title="Nodes", title_justify="left")
    for column in ("cluster", "nodes", "steps", "models", "health"):
        table.add_column(column)
    clusters: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        clusters.setdefault(node["cluster"], []).append(node)
    for cluster, members in sorted(clusters.items()):
        steps = Counter(node["step"] or "never updated" for node in members)
        models = Counter(node["model"] or "unknown" for node in members)
        health = Counter(node["health"] or "unknown" for node in members)
        table.add_row(cluster, str(len(members)),
                      ", ".join(f"{_style(step)} {count}" for step, count in sorted(steps.items())),
                      ", ".join(f"{model} {count}" for model, count in sorted(models.items())),
                      ", ".join(f"{state} {count}" for state, count in sorted(health.items())))
    return table


def campaign_table(campaigns: list[dict[str, Any]]) -> Table:
    table = Table(title="Campaigns", title_justify="left")
    for column in ("campaign", "cluster", "release", "state", "nodes", "reason"):
        table.add_column(column, overflow="fold")
    for campaign in campaigns:
        counts = ", ".join(f"{_style(step)} {count}"
                           for step, count in sorted(campaign["counts"].items()))
        table.add_row(campaign["id"], campaign["cluster"], campaign["release"],
                      campaign["state"], counts, campaign.get("reason") or "")
    return table


def lab_status_tables(state: LabState) -> Group:
    """Everything `lab status` prints; the gateway's part only while it answers."""
    parts: list[Any] = [process_table(state)]
    client = ApiClient(state.api_url, state.api_token, timeout=10)
    try:
        parts.append(node_table(client.get_all("/api/nodes")))
        campaigns = client.get_all("/api/campaigns")
        parts.append(campaign_table(campaigns) if campaigns else
                     "No campaign yet: `fleetflash lab publish --state-file "
                     f"{state.path}` announces the sample bundle.")
    except ApiClientError as exc:
        parts.append(f"[red]gateway API not answering:[/] {exc}")
    return Group(*parts)
