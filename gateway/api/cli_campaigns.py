"""`fleetflash campaigns ...` and `fleetflash nodes ...`: API clients with rich output.

`campaigns watch ID` redraws progress bars per wave and per node until the
campaign ends; its exit status is 0 when it completed (every node covered),
3 when it completed with exclusions (nodes it could not inventory or plan) and
1 otherwise (failed or aborted).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from gateway.api.cli import api_options, console
from gateway.api.client import ApiClient
from gateway.api.timeline_svg import report_html
from gateway.domain import FINAL_STEPS, TERMINAL_STATES, CampaignState

TERMINAL = frozenset(state.value for state in TERMINAL_STATES)
EXIT_EXCLUSIONS = 3  # completed_with_exclusions: not a failure, but not every node either
FINISHED_STEPS = frozenset(step.value for step in FINAL_STEPS)
# How each campaign state is shown in the terminal (the lab's live view too).
STATE_STYLE: dict[str, str] = {
    CampaignState.PENDING_APPROVAL: "yellow", CampaignState.RUNNING: "cyan",
    CampaignState.PAUSED: "yellow", CampaignState.PAUSED_BUDGET: "yellow",
    CampaignState.COMPLETED: "green", CampaignState.COMPLETED_WITH_EXCLUSIONS: "yellow",
    CampaignState.ABORTED: "red", CampaignState.FAILED: "red"}


@click.group()
def campaigns() -> None:
    """See and steer update campaigns on a running gateway."""


def state_markup(state: str) -> str:
    """A campaign state as rich markup in its colour (an unknown one uncoloured)."""
    return f"[{STATE_STYLE.get(state, '')}]{state}[/]"


@campaigns.command("list")
@click.option("--state", default=None, help="Only campaigns in this state.")
@api_options
def list_campaigns(client: ApiClient, state: str | None) -> None:
    """List campaigns, newest first."""
    table = Table(title="Campaigns")
    for column in ("id", "cluster", "release", "state", "nodes", "updated (UTC)"):
        table.add_column(column, overflow="fold")
    for item in client.get_all("/api/campaigns", state=state):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(item["counts"].items()))
        table.add_row(item["id"], item["cluster"], item["release"], state_markup(item["state"]),
                      counts, item["updated_at"][:19].replace("T", " "))
    console().print(table)


def campaign_tables(campaign: dict[str, Any]) -> Group:
    """A campaign's facts and one table per wave."""
    parts: list[Any] = [
        f"campaign [bold]{campaign['id']}[/] on cluster {campaign['cluster']}: "
        f"{state_markup(campaign['state'])}  release {campaign['release']}"
        + (f"\nreason: {campaign['reason']}" if campaign.get("reason") else "")
        + "".join(f"\nnot covered: {line}" for line in campaign.get("exclusions") or ())]
    for wave in campaign["waves"]:
        title = "Canary wave" if wave["canary"] else f"Wave {wave['index']}"
        table = Table(title=title, title_justify="left")
        for column in ("node", "group", "model", "step", "progress", "attempt", "failure"):
            table.add_column(column, overflow="fold")
        for node in wave["nodes"]:
            table.add_row(node["node_id"], node["group"], node["model"] or "-", node["step"],
                          f"{node['progress']}%", str(node["attempt"]), node["error"] or "")
        parts.append(table)
    return Group(*parts)


@campaigns.command("show")
@click.argument("campaign_id")
@api_options
def show_campaign(client: ApiClient, campaign_id: str) -> None:
    """Show a campaign: its waves and each node's step, progress and failure."""
    console().print(campaign_tables(client.get(f"/api/campaigns/{campaign_id}")))


@campaigns.command("start")
@click.option("--image", "image_sha256", required=True, help="SHA-256 of a verified image.")
@click.option("--cluster", required=True)
@api_options
def start_campaign(client: ApiClient, image_sha256: str, cluster: str) -> None:
    """Start a campaign for an image on a cluster (usually the gateway does this itself)."""
    campaign = client.post("/api/campaigns", {"image_sha256": image_sha256, "cluster": cluster})
    click.echo(f"campaign {campaign['id']}: {campaign['state']}")


@campaigns.command("report")
@click.argument("campaign_id")
@click.option("--html", "html_file", required=True, type=click.Path(dir_okay=False),
              help="Write the timeline and per-node report to this self-contained HTML file.")
@api_options
def report_campaign(client: ApiClient, campaign_id: str, html_file: str) -> None:
    """Write a campaign's timeline (Gantt chart) and per-node outcomes as one HTML file."""
    timeline = client.get(f"/api/campaigns/{campaign_id}/timeline")
    rows = list(client.get_all(f"/api/reports/campaigns/{campaign_id}"))
    page = report_html(timeline, rows)
    target = Path(html_file)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(page, encoding="utf-8")
        partial.replace(target)  # never a half-written report under the asked-for name
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {html_file}: {exc.strerror or exc}") from exc
    click.echo(f"campaign {campaign_id} ({timeline['state']}): {len(timeline['nodes'])} "
               f"nodes, report written to {html_file}")


@campaigns.command("create")
@click.option("--image", "image_sha256", required=True,
              help="SHA-256 of a verified image in the cache (an older one too).")
@click.option("--cluster", required=True)
@click.option("--allow-downgrade", is_flag=True, default=False,
              help="Install versions older than the nodes' (a rollback); refused unless "
                   "the cluster's or the image source's policy sets allow_downgrade.")
@api_options
def create_campaign(client: ApiClient, image_sha256: str, cluster: str,
                    allow_downgrade: bool) -> None:
    """Start a campaign for any verified image on a cluster: same canaries, waves and
    checks as an automatic one."""
    body: dict[str, Any] = {"image_sha256": image_sha256, "cluster": cluster}
    if allow_downgrade:
        body["allow_downgrade"] = True
    campaign = client.post("/api/campaigns", body)
    click.echo(f"campaign {campaign['id']}: {campaign['state']}"
               + (" (downgrades allowed)" if allow_downgrade else ""))


def _campaign_action(action: str, help_text: str) -> None:
    @campaigns.command(action, help=help_text)
    @click.argument("campaign_id")
    @click.option("--reason", default=None, help="Why (kept in the audit log).")
    @api_options
    def command(client: ApiClient, campaign_id: str, reason: str | None) -> None:
        body = {"reason": reason} if reason else {}
        campaign = client.post(f"/api/campaigns/{campaign_id}/{action}", body)
        click.echo(f"campaign {campaign['id']}: {campaign['state']}")


_campaign_action("approve", "Approve a campaign that waits for approval.")
_campaign_action("pause", "Pause a campaign: nodes in flight finish, nothing new starts.")
_campaign_action("resume", "Resume a paused campaign.")
_campaign_action("abort", "Abort a campaign: nothing new starts, ever.")


class _Bars:
    """One progress bar per wave (nodes finished) and per node (its own progress)."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}", justify="left"), BarColumn(),
                                 TaskProgressColumn(), TextColumn("{task.fields[step]}"))
        self._tasks: dict[str, Any] = {}

    def update(self, campaign: dict[str, Any]) -> None:
        for wave in campaign["waves"]:
            name = "canary" if wave["canary"] else f"wave {wave['index']}"
            done = sum(1 for n in wave["nodes"] if n["step"] in FINISHED_STEPS)
            self._set(f"wave:{name}", f"[bold]{name}[/]", len(wave["nodes"]) or 1, done,
                      f"{done}/{len(wave['nodes'])} nodes")
            for node in wave["nodes"]:
                step = node["step"] + (f": {node['error']}" if node["error"] else "")
                self._set(f"node:{node['node_id']}", f"  {node['node_id']}", 100,
                          node["progress"], step)

    def _set(self, key: str, description: str, total: int, completed: int, step: str) -> None:
        if key not in self._tasks:
            self._tasks[key] = self.progress.add_task(description, total=total, step=step)
        self.progress.update(self._tasks[key], total=total, completed=completed, step=step)


@campaigns.command("watch")
@click.argument("campaign_id")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="Seconds between two looks at the campaign.")
@api_options
def watch_campaign(client: ApiClient, campaign_id: str, interval: float) -> None:
    """Show live progress bars per wave and node until the campaign ends.

    Exit status: 0 completed, 3 completed with exclusions, 1 failed or aborted."""
    bars = _Bars()
    campaign = client.get(f"/api/campaigns/{campaign_id}")
    out = console()
    with Live(Group(bars.progress), console=out, refresh_per_second=4) as live:
        while True:
            bars.update(campaign)
            live.update(Group(f"campaign {campaign['id']}: {state_markup(campaign['state'])}",
                              bars.progress))
            if campaign["state"] in TERMINAL:
                break
            time.sleep(interval)
            campaign = client.get(f"/api/campaigns/{campaign_id}")
    out.print(f"campaign {campaign['id']} ended: {campaign['state']}"
              + (f" ({campaign['reason']})" if campaign.get("reason") else ""))
    for line in campaign.get("exclusions") or ():
        out.print(f"  not covered: {line}")
    if campaign["state"] == "completed_with_exclusions":
        raise SystemExit(EXIT_EXCLUSIONS)
    if campaign["state"] != "completed":
        raise SystemExit(1)


@click.group()
def nodes() -> None:
    """See managed nodes and retry or clear failed ones."""


@nodes.command("list")
@click.option("--cluster", default=None, help="Only nodes of this cluster.")
@api_options
def list_nodes(client: ApiClient, cluster: str | None) -> None:
    """List nodes with model, versions, step and health."""
    table = Table(title="Nodes")
    for column in ("node", "cluster", "group", "model", "versions", "step", "health", "error"):
        table.add_column(column, overflow="fold")
    for node in client.get_all("/api/nodes", cluster=cluster):
        versions = ", ".join(f"{k} {v}" for k, v in sorted(node["versions"].items()))
        table.add_row(node["id"], node["cluster"], node["group"], node["model"] or "-",
                      versions or "-", node["step"], node["health"], node["error"] or "")
    console().print(table)


def _node_action(action: str, help_text: str) -> None:
    @nodes.command(action, help=help_text)
    @click.argument("campaign_id")
    @click.argument("node_id")
    @click.option("--reason", default=None, help="Why (kept in the audit log).")
    @api_options
    def command(client: ApiClient, campaign_id: str, node_id: str, reason: str | None) -> None:
        body = {"reason": reason} if reason else {}
        node = client.post(f"/api/campaigns/{campaign_id}/nodes/{node_id}/{action}", body)
        click.echo(f"node {node['node_id']} in campaign {campaign_id}: {node['step']}")


_node_action("retry", "Retry a quarantined or partial node (or release a held manual-only one).")
_node_action("clear", "Clear a quarantined, partial or pending node: give it up for this campaign.")
