"""Live progress of a lab's rollout, read from the gateway's API.

`fetch` takes one look (images, campaigns with their waves, media bytes
served from /metrics); `progress_table` renders it for rich's Live;
`milestones` lists what changed since the previous look, as lines worth
keeping in the terminal's scroll-back (image verified, campaign planned,
canaries verified, a wave finished, a node quarantined, a campaign ended).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

from gateway.api.cli_campaigns import state_markup
from gateway.api.client import ApiClient
from gateway.domain import (
    FINAL_STEPS,
    OPERATOR_STEPS,
    PATH,
    TERMINAL_STATES,
    CampaignState,
    NodeStep,
)

TERMINAL_CAMPAIGN_STATES = frozenset(state.value for state in TERMINAL_STATES)
# In flight: on the update path, or failed and being made safe.
ACTIVE_STEPS = frozenset(step.value for step in (NodeStep.STAGE, *PATH, NodeStep.FAILED))
FINISHED_STEPS = frozenset(step.value for step in (*FINAL_STEPS, *OPERATOR_STEPS))
PAUSED = frozenset({CampaignState.PAUSED.value, CampaignState.PAUSED_BUDGET.value})


@dataclass
class Snapshot:
    """One look at the gateway: images by sha256, campaigns by id (with waves), bytes served."""

    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    bytes_served: float = 0.0

    def steps(self, campaign_id: str) -> dict[str, str]:
        """Node -> step in one campaign."""
        return {node["node_id"]: node["step"] for wave in self.campaigns[campaign_id]["waves"]
                for node in wave["nodes"]}

    def settled(self, campaign_id: str) -> bool:
        """True when nothing more will happen without an operator: the campaign ended, or it
        is paused with no node in flight."""
        campaign = self.campaigns[campaign_id]
        if campaign["state"] in TERMINAL_CAMPAIGN_STATES:
            return True
        in_flight = any(step in ACTIVE_STEPS for step in self.steps(campaign_id).values())
        return campaign["state"] in PAUSED and not in_flight


def media_bytes_served(api_url: str, token: str) -> float:
    """fleetflash_media_served_bytes_total from the gateway's /metrics (0 if unreadable)."""
    try:
        text = requests.get(api_url + "/metrics", timeout=10,
                            headers={"Authorization": f"Bearer {token}"}).text
        for family in text_string_to_metric_families(text):
            if family.name == "fleetflash_media_served_bytes":
                return sum(sample.value for sample in family.samples
                           if sample.name.endswith("_total"))
    except (requests.RequestException, ValueError):
        pass
    return 0.0


def fetch(client: ApiClient, token: str) -> Snapshot:
    """One look at the gateway; raises gateway.api.client.ApiClientError if it is down."""
    snapshot = Snapshot()
    snapshot.images = {image["sha256"]: image for image in client.get_all("/api/images")}
    for item in client.get_all("/api/campaigns"):
        snapshot.campaigns[item["id"]] = client.get(f"/api/campaigns/{item['id']}")
    snapshot.bytes_served = media_bytes_served(client.base_url, token)
    return snapshot


def _human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def _wave_text(campaign: dict[str, Any]) -> str:
    parts = []
    for wave in campaign["waves"]:
        nodes = wave["nodes"]
        if not any(node["step"] != "pending" for node in nodes):
            parts.append(f"[dim]{len(nodes)} waiting[/]")
            continue
        done = sum(1 for node in nodes if node["step"] in FINISHED_STEPS)
        name = "canary" if wave["canary"] else f"w{wave['index']}"
        style = "green" if done == len(nodes) else "cyan"
        parts.append(f"[{style}]{name} {done}/{len(nodes)}[/]")
    return " ".join(parts) or "planning"


def progress_table(snapshot: Snapshot, elapsed_s: float) -> Table:
    """Per campaign: state, waves (finished/size), nodes per step; bytes served below."""
    table = Table(title=f"Rollout after {elapsed_s:.0f} s; media served: "
                        f"{_human_bytes(snapshot.bytes_served)}", title_justify="left")
    for column in ("campaign", "state", "waves", "nodes per step"):
        table.add_column(column)
    if not snapshot.campaigns:
        images = ", ".join(f"{image['release']}: {image['state']}"
                           for image in snapshot.images.values()) or "waiting for the alert"
        table.add_row("-", "-", "-", images)
    for campaign_id, campaign in sorted(snapshot.campaigns.items()):
        steps = Counter(snapshot.steps(campaign_id).values())
        state = campaign["state"]
        table.add_row(campaign_id, state_markup(state),
                      _wave_text(campaign),
                      ", ".join(f"{step} {count}" for step, count in sorted(steps.items())))
    return table


def milestones(before: Snapshot, now: Snapshot) -> list[str]:
    """Lines describing what changed between two looks (oldest first)."""
    lines = []
    for sha, image in now.images.items():
        if image["state"] != before.images.get(sha, {}).get("state"):
            lines.append(f"image {image['release']} ({sha[:12]}): {image['state']}"
                         + (f" ({image['reason']})" if image.get("reason") else ""))
    for campaign_id, campaign in sorted(now.campaigns.items()):
        old = before.campaigns.get(campaign_id)
        steps, old_steps = now.steps(campaign_id), (before.steps(campaign_id) if old else {})
        if old is None:
            canaries = [n["node_id"] for w in campaign["waves"] if w["canary"]
                        for n in w["nodes"]]
            lines.append(f"campaign {campaign_id}: {len(steps)} nodes planned, canaries "
                         f"{', '.join(canaries) or 'none'}")
        for wave in campaign["waves"]:
            ids = [node["node_id"] for node in wave["nodes"]]
            finished = all(steps[n] in FINISHED_STEPS for n in ids)
            if ids and finished and not all(old_steps.get(n) in FINISHED_STEPS for n in ids):
                name = "canaries" if wave["canary"] else f"wave {wave['index']}"
                outcome = Counter(steps[n] for n in ids)
                lines.append(f"{campaign_id}: {name} finished: "
                             + ", ".join(f"{k} {v}" for k, v in sorted(outcome.items())))
        for wave in campaign["waves"]:
            for node in wave["nodes"]:
                if node["step"] == NodeStep.QUARANTINED and old_steps.get(node["node_id"]) != \
                        NodeStep.QUARANTINED:
                    lines.append(f"{campaign_id}: {node['node_id']} quarantined: "
                                 f"{node['error'] or 'no reason given'}")
        changed = old["state"] != campaign["state"] if old else campaign["state"] != "running"
        if changed:
            lines.append(f"campaign {campaign_id}: {campaign['state']}"
                         + (f" ({campaign['reason']})" if campaign.get("reason") else ""))
    return lines
