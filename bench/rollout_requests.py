"""``--count-requests`` of bench/rollout.py: every Redfish request the gateway process
sends, counted by the node step that sent it and by what it asked for.

Bench-only instrumentation (the product has no such counter): each step handler is
wrapped to name its step on the worker thread, and the connector's ``_op`` (every
request sushy or the gateway sends, logins included) counts under that name. Requests
sent outside a step handler (the campaign's inventory, event subscriptions) count as
``outside``. The counts cost a little CPU: compare CPU only between runs without it.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

_STEP = threading.local()
_LOCK = threading.Lock()
COUNTS: Counter[tuple[str, str]] = Counter()
# What a request asked for: the first pattern its path matches (ids folded away).
_KINDS = (
    ("root", re.compile(r"^/redfish/v1/?$")),
    ("session", re.compile(r"/SessionService")),
    ("firmware member", re.compile(r"/FirmwareInventory/.")),
    ("firmware list", re.compile(r"/FirmwareInventory/?$")),
    ("update service", re.compile(r"/UpdateService")),
    ("virtual media", re.compile(r"/VirtualMedia")),
    ("task", re.compile(r"/Task")),
    ("log", re.compile(r"/LogServices")),
    ("event service", re.compile(r"/EventService")),
    ("system", re.compile(r"/Systems")),
    ("manager", re.compile(r"/Managers")),
)


def kind_of(method: str, path: str) -> str:
    plain = path.split("?", 1)[0]
    plain = re.sub(r"^https?://[^/]+", "", plain)
    for name, pattern in _KINDS:
        if pattern.search(plain):
            return f"{method} {name}"
    return f"{method} other"


_INSTALLED: list[bool] = []


def install(wanted: bool = True) -> None:
    """Wrap the step handlers and the connector (before the gateway is built)."""
    if not wanted:
        return
    _INSTALLED.append(True)
    from gateway.orchestrator import steps
    from gateway.redfish import connector

    for step, handler in list(steps.HANDLERS.items()):
        steps.HANDLERS[step] = _named(step.value, handler)
    original = connector.FleetConnector._op

    def counted(self: Any, method: str, path: str = "", *args: Any, **kwargs: Any) -> Any:
        key = (getattr(_STEP, "name", "outside"), kind_of(method, path))
        with _LOCK:
            COUNTS[key] += 1
        return original(self, method, path, *args, **kwargs)

    connector.FleetConnector._op = counted


def _named(name: str, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def wrapped(ctx: Any) -> Any:
        _STEP.name = name
        try:
            return handler(ctx)
        finally:
            _STEP.name = "outside"
    return wrapped


def figures(nodes: int) -> dict[str, Any]:
    """Requests per node: in total, per step, and per step and kind ({} unless installed)."""
    if not _INSTALLED:
        return {}
    with _LOCK:
        counts = dict(COUNTS)
    per_step: Counter[str] = Counter()
    for (step, _kind), n in counts.items():
        per_step[step] += n
    div = max(nodes, 1)
    return {
        "requests_per_node": round(sum(counts.values()) / div, 1),
        "requests_per_node_by_step": {s: round(n / div, 2) for s, n in sorted(per_step.items())},
        "requests_per_node_by_kind": {
            f"{s}: {k}": round(n / div, 2) for (s, k), n in sorted(counts.items())},
    }
