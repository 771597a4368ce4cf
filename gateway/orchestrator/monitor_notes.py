"""What MONITOR says about an update it follows: a failed task's reason, a running
task's last word, and, when the step times out, which components were still behind.

Everything here is one line for a node run's error (no secrets: the media URL is a
capability, whoever holds it may read the image, so URLs are replaced).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from gateway.domain import DeliveryMethod, NodeStep, RunProgress
from gateway.orchestrator.context import StepContext, versions_behind
from gateway.redfish import RedfishError, TaskStatus

_URL = re.compile(r"https?://\S+")


def task_failure(state: str, message_ids: tuple[str, ...], messages: tuple[str, ...]) -> str:
    """One line saying why a task failed: its failure messages, with URLs removed (the
    media URL is a capability: whoever holds it may read the image)."""
    failing = [(i, m) for i, m in zip(message_ids, messages, strict=False)
               if any(word in i.rsplit(".", 1)[-1] for word in ("Fail", "Error", "Abort"))]
    chosen = failing or list(zip(message_ids, messages, strict=False))[-1:]
    detail = "; ".join(f"{i.rsplit('.', 1)[-1]}: {_URL.sub('<image URL>', m)}"
                       for i, m in chosen) or "no message"
    return f"update task ended {state}: {detail}"[:500]


def remember(ctx: StepContext, said: str, percent: int | None) -> RunProgress | None:
    """The progress with what the BMC's task said (and its percent complete, shown by the
    API), or None when it already was so (Stay then writes nothing). The percent is part
    of what the task says, so recording it adds no write."""
    if ctx.progress.bmc_said == said and ctx.progress.percent == percent:
        return None
    return replace(ctx.progress, bmc_said=said, percent=percent)


def task_said(status: TaskStatus) -> str:
    """One line of what a running task says: state, percent, its last message."""
    if status.missing:
        return "task gone: the BMC answers 404 for it (versions decide)"
    percent = f" at {status.percent} %" if status.percent is not None else ""
    last = ""
    if status.message_ids:
        text = _URL.sub("<image URL>", status.messages[-1]) if status.messages else ""
        last = f": {status.message_ids[-1].rsplit('.', 1)[-1]}" + (f" ({text})" if text else "")
    return f"task {status.state}{percent}{last}"[:300]


def monitor_timeout(ctx: StepContext) -> str:
    """What a MONITOR timeout reports besides the time: each component still behind (seen
    version against target, read now if the BMC answers, else as last read) and what the
    BMC's task last said."""
    parts: list[str] = []
    try:
        behind = versions_behind(ctx, ctx.client().component_versions())
        parts.append("still behind: " + ", ".join(behind) if behind
                     else "every component now at its target")
    except RedfishError as exc:
        ctx.clients.drop(ctx.node, exc)
        if ctx.progress.behind:
            parts.append(f"still behind when last read: {ctx.progress.behind}")
        parts.append(f"BMC not answering now ({exc})")
    if ctx.progress.bmc_said:
        parts.append(f"the BMC last said: {ctx.progress.bmc_said}")
    elif not ctx.progress.task:
        parts.append(no_task_note(ctx.run.method))
    elif ctx.progress.task_seen != ctx.progress.task:
        parts.append(f"the BMC's task monitor {ctx.progress.task} never answered (404)")
    return "; ".join(parts)


def no_task_note(method: str | None) -> str:
    """Why there was no task to follow: MSC has none (the update CD applies the image);
    a BMC that accepted a SimpleUpdate or push without naming one (DMTF's mockup
    server answers 204) said nothing more. Never claim the CD for another method."""
    if method in (None, DeliveryMethod.MSC.value):
        return "no BMC task to follow (the update CD applies the image)"
    return f"no BMC task to follow (the BMC accepted the {method} request without naming one)"


TIMEOUT_DETAILS: dict[NodeStep, Callable[[StepContext], str]] = {
    NodeStep.MONITOR: monitor_timeout,
}
