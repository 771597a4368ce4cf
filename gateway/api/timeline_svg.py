"""Draws a campaign timeline (the JSON of ``GET /api/campaigns/ID/timeline``) as SVG.

One renderer for the dashboard page and for ``fleetflash campaigns report --html``,
so both show the same picture. Colours are SVG presentation attributes, not CSS,
so the drawing needs no stylesheet and passes the dashboard's Content-Security-
Policy; every bar carries a <title> (a tooltip, and what screen readers read).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from gateway.domain import NodeStep

LABEL_W = 210
PLOT_W = 760
OUTCOME_W = 110
ROW_H = 18
AXIS_H = 28
USAGE_H = 56
WIDTH = LABEL_W + PLOT_W + OUTCOME_W

# Bars: every step a node spends time in (the update path, and making a failed node
# safe), in path order (the legend's order).
STEP_COLOURS: dict[str, str] = {
    NodeStep.PRECHECK: "#9ecae1", NodeStep.DRAIN: "#6baed6", NodeStep.DELIVER: "#3182bd",
    NodeStep.MONITOR: "#08519c", NodeStep.RESET: "#fd8d3c", NodeStep.WAIT_BACK: "#fdae6b",
    NodeStep.VERIFY: "#31a354", NodeStep.EJECT: "#74c476", NodeStep.POSTCHECK: "#a1d99b",
    NodeStep.UNDRAIN: "#c7e9c0", NodeStep.FAILED: "#de2d26",
    # Staged activation: staging and the wait for the window (no host down).
    NodeStep.STAGE: "#dadaeb", NodeStep.STAGED: "#efedf5",
}
OUTCOME_COLOURS: dict[str, str] = {
    NodeStep.DONE: "#1b7837", NodeStep.QUARANTINED: "#b2182b", NodeStep.FAILED: "#b2182b",
    NodeStep.PARTIAL: "#e08214",
    NodeStep.SKIPPED: "#666666", NodeStep.NOT_APPLICABLE: "#666666",
    NodeStep.STAGED: "#6a51a3"}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _a(value: object) -> str:
    return escape(str(value), quote=True)


class _Scale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.seconds = max((end - start).total_seconds(), 1.0)

    def x(self, moment: datetime) -> float:
        offset = (moment - self.start).total_seconds()
        return LABEL_W + max(0.0, min(offset, self.seconds)) * PLOT_W / self.seconds


def _ticks(seconds: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600):
        if seconds / step <= 10:
            return [t * step for t in range(int(seconds // step) + 1)]
    return [0.0, seconds]


def _label(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


def _node_row(node: dict[str, Any], y: float, scale: _Scale, end: datetime) -> list[str]:
    tags = " · canary" if node["canary"] else ""
    parts = [f'<g class="node" data-node="{_a(node["node_id"])}" '
             f'data-outcome="{_a(node["outcome"])}">',
             f'<text x="6" y="{y + 13:.1f}" font-size="11">{_a(node["node_id"])}'
             f'<tspan fill="#666"> {_a(node["group"])}{tags}</tspan></text>']
    for span in node["spans"]:
        started = _time(span["started_at"])
        ended = _time(span["ended_at"]) if span["ended_at"] else end
        x0, x1 = scale.x(started), scale.x(ended)
        colour = STEP_COLOURS.get(span["step"], "#999999")
        what = span["step"].replace("_", " ")
        lasting = "" if span["ended_at"] else ", still in it"
        tip = (f"{node['node_id']}: {what} (attempt {span['attempt']}), "
               f"{(ended - started).total_seconds():.1f} s{lasting}")
        if span["failed"]:
            tip += f" — failed: {span.get('detail') or node.get('error') or ''}"
        stroke = ' stroke="#b2182b" stroke-width="2"' if span["failed"] else ""
        parts.append(f'<rect class="span" data-step="{_a(span["step"])}" '
                     f'x="{x0:.1f}" y="{y + 3:.1f}" width="{max(x1 - x0, 1.0):.1f}" '
                     f'height="{ROW_H - 6}" fill="{colour}"{stroke}>'
                     f'<title>{_a(tip)}</title></rect>')
    outcome = node["outcome"].replace("_", " ")
    if node["approximate"]:
        outcome += " ~"
    colour = OUTCOME_COLOURS.get(node["outcome"], "#333333")
    title = f"<title>{_a(node['error'])}</title>" if node.get("error") else ""
    parts.append(f'<text class="outcome" x="{LABEL_W + PLOT_W + 6}" y="{y + 13:.1f}" '
                 f'font-size="11" fill="{colour}">{_a(outcome)}{title}</text></g>')
    return parts


def _usage(group: dict[str, Any], y: float, scale: _Scale, end: datetime) -> list[str]:
    top = max(group["allowance"], group["peak"], 1)
    height = USAGE_H - 16

    def level(value: int) -> float:
        return float(y + 4 + height - value * height / top)

    parts = [f'<g class="usage" data-group="{_a(group["group"])}" '
             f'data-peak="{group["peak"]}" data-allowance="{group["allowance"]}">',
             f'<text x="6" y="{y + 20:.1f}" font-size="11">{_a(group["group"])}</text>',
             f'<text x="6" y="{y + 34:.1f}" font-size="10" fill="#666">peak {group["peak"]} '
             f'of allowance {group["allowance"]}</text>',
             f'<line x1="{LABEL_W}" x2="{LABEL_W + PLOT_W}" y1="{level(group["allowance"]):.1f}" '
             f'y2="{level(group["allowance"]):.1f}" stroke="#b2182b" stroke-dasharray="4 3">'
             f'<title>allowance {group["allowance"]}</title></line>']
    points = group["usage"]
    for index, point in enumerate(points):
        if point["in_use"] == 0:
            continue
        start = _time(point["at"])
        stop = _time(points[index + 1]["at"]) if index + 1 < len(points) else end
        x0, x1 = scale.x(start), scale.x(stop)
        top_y = level(point["in_use"])
        parts.append(f'<rect class="in-use" x="{x0:.1f}" y="{top_y:.1f}" '
                     f'width="{max(x1 - x0, 1.0):.1f}" height="{level(0) - top_y:.1f}" '
                     f'fill="#807dba"><title>{_a(group["group"])}: {point["in_use"]} of '
                     f'{group["allowance"]} in use</title></rect>')
    parts.append("</g>")
    return parts


def timeline_svg(timeline: dict[str, Any]) -> str:
    """The SVG (one element, no external references) of a timeline's JSON."""
    start, end = _time(timeline["start"]), _time(timeline["end"])
    scale = _Scale(start, end)
    nodes = timeline["nodes"]
    waves: list[Any] = []
    for node in nodes:
        if not waves or waves[-1] != node["wave"]:
            waves.append(node["wave"])
    height = (AXIS_H + len(nodes) * ROW_H + len(waves) * ROW_H
              + len(timeline["groups"]) * USAGE_H + ROW_H + 8)
    state = timeline["state"].replace("_", " ")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" role="img" '
             f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
             f'font-family="sans-serif" data-state="{_a(timeline["state"])}" '
             f'data-end="{_a(timeline["end"])}" aria-labelledby="timeline-title">',
             f'<title id="timeline-title">Timeline of campaign {_a(timeline["campaign_id"])} '
             f'({_a(state)}): {len(nodes)} nodes</title>']
    for tick in _ticks(scale.seconds):
        x = LABEL_W + tick * PLOT_W / scale.seconds
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{AXIS_H - 6}" y2="{height - 4}" '
                     f'stroke="#e0e0e0"/><text x="{x:.1f}" y="{AXIS_H - 10}" font-size="10" '
                     f'text-anchor="middle" fill="#444">{_label(tick)}</text>')
    y = float(AXIS_H)
    current: object = object()
    for node in nodes:
        if node["wave"] != current:
            current = node["wave"]
            title = ("Canary wave" if current == 0 else "Not started" if current is None
                     else f"Wave {current}")
            parts.append(f'<text class="wave" x="6" y="{y + 13:.1f}" font-size="11" '
                         f'font-weight="bold">{title}</text>')
            y += ROW_H
        parts.extend(_node_row(node, y, scale, end))
        y += ROW_H
    if timeline["groups"]:
        parts.append(f'<text x="6" y="{y + 14:.1f}" font-size="11" font-weight="bold">'
                     'Allowance in use per group</text>')
        y += ROW_H
    for group in timeline["groups"]:
        parts.extend(_usage(group, y, scale, end))
        y += USAGE_H
    parts.append("</svg>")
    return "".join(parts)


def legend_items() -> list[tuple[str, str]]:
    """(step, colour) in path order, for a legend beside the chart."""
    return [(str(step).replace("_", " "), colour) for step, colour in STEP_COLOURS.items()]


def report_html(timeline: dict[str, Any], report: list[dict[str, Any]]) -> str:
    """One self-contained HTML page: the timeline and the per-node report table."""
    legend = "".join(f'<li><svg width="12" height="12"><rect width="12" height="12" '
                     f'fill="{colour}"/></svg> {_a(step)}</li>'
                     for step, colour in legend_items())
    rows = "".join(
        f"<tr><th scope=\"row\">{_a(r['node_id'])}</th><td>{_a(r['outcome'])}</td>"
        f"<td>{_a(r.get('method') or '–')}</td>"
        f"<td>{_a(', '.join(f'{k} {v}' for k, v in sorted(r['versions_before'].items())))}</td>"
        f"<td>{_a(', '.join(f'{k} {v}' for k, v in sorted(r['versions_after'].items())))}</td>"
        f"<td>{'' if r.get('duration_s') is None else _a(r['duration_s'])}</td>"
        f"<td>{_a(r.get('error') or '')}</td></tr>" for r in report)
    title = f"Campaign {timeline['campaign_id']} on {timeline['cluster']}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_a(title)}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:left;vertical-align:top}ul.legend{list-style:none;padding:0;display:flex;"
        "flex-wrap:wrap;gap:1em}</style></head><body>"
        f"<h1>{_a(title)}</h1><p>Release {_a(timeline['release'])}, state "
        f"{_a(timeline['state'].replace('_', ' '))}, from {_a(timeline['start'])} to "
        f"{_a(timeline['end'])} (UTC).</p><ul class=\"legend\">{legend}</ul>"
        f"{timeline_svg(timeline)}<h2>Nodes</h2><table><thead><tr><th>Node</th>"
        "<th>Outcome</th><th>Method</th><th>Before</th><th>After</th><th>Seconds</th>"
        f"<th>Failure</th></tr></thead><tbody>{rows}</tbody></table></body></html>\n")
