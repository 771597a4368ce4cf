"""Planning a change to the BMC registry: which imported rows add, update or leave a
registration as it is, and which are refused and why.

A row is checked exactly as the gateway will load it (gateway/cluster_config.py):
known keys, a declared cluster and group, a valid URL and TLS mode, no second entry
for the same BMC, no name also in the config file. Passwords are checked for shape
only: password_file must name an existing file, password_env is read by the
gateway's process, not by this one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.cluster_config import load_clusters
from gateway.config import ConfigError, GatewayConfig
from gateway.onboarding.importers import INLINE_PASSWORD, ImportRow, RowProblem

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ImportPlan:
    added: list[dict[str, Any]] = field(default_factory=list)
    updated: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def changes(self) -> list[dict[str, Any]]:
        return self.added + [after for _before, after in self.updated]


def plan_import(config: GatewayConfig, current: Sequence[Mapping[str, Any]],
                rows: Sequence[ImportRow], problems: Sequence[RowProblem] = ()) -> ImportPlan:
    """What importing `rows` into a registry holding `current` would do."""
    plan = ImportPlan(problems=list(problems))
    existing = {str(e["name"]): dict(e) for e in current}
    in_file = {bmc.name for bmc in config.file.bmcs}
    first_at: dict[str, str] = {}
    good: list[ImportRow] = []
    for row in rows:
        problem = _row_problem(config, row.entry, in_file, first_at)
        if problem is None:
            problem = _load_problem(config, [_checkable(config, row.entry)])
        if problem is not None:
            plan.problems.append(RowProblem(row.where, problem))
            continue
        first_at[str(row.entry["name"])] = row.where
        good.append(row)
    # Rows that are fine alone may still collide with each other or with the registry
    # (two names for one BMC): check them together, dropping the row named each time.
    while good:
        merged = {**existing, **{str(r.entry["name"]): r.entry for r in good}}
        problem = _load_problem(config, [_checkable(config, e) for e in merged.values()])
        if problem is None:
            break
        culprit = next((r for r in reversed(good) if repr(r.entry["name"]) in problem), None)
        if culprit is None:  # the registry itself is inconsistent: nothing can go in
            plan.problems.append(RowProblem("registry", problem))
            good = []
            break
        plan.problems.append(RowProblem(culprit.where, problem))
        good.remove(culprit)
    for row in good:
        name = str(row.entry["name"])
        before = existing.get(name)
        if before is None:
            plan.added.append(row.entry)
        elif before != row.entry:
            plan.updated.append((before, row.entry))
        else:
            plan.unchanged.append(name)
    return plan


def _row_problem(config: GatewayConfig, entry: Mapping[str, Any], in_file: set[str],
                 first_at: Mapping[str, str]) -> str | None:
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"name {name!r} must be 1-64 letters, digits, '.', '_' or '-'"
    if name in first_at:
        return f"duplicate name {name!r} (first at {first_at[name]})"
    if name in in_file:
        return (f"BMC {name!r} is in the config file's [[bmcs]], which imports never change; "
                "remove it there or rename the row")
    if "password" in entry:
        return INLINE_PASSWORD
    sources = [k for k in ("password_file", "password_env") if entry.get(k)]
    if len(sources) != 1:
        return "set exactly one of password_file or password_env"
    if sources[0] == "password_file" and not _password_path(config, entry).is_file():
        return f"password_file {_password_path(config, entry)} does not exist"
    return None


def _password_path(config: GatewayConfig, entry: Mapping[str, Any]) -> Path:
    path = Path(str(entry["password_file"])).expanduser()
    return path if path.is_absolute() else config.path.parent / path


def _checkable(config: GatewayConfig, entry: Mapping[str, Any]) -> dict[str, Any]:
    """`entry` with its password source replaced by a placeholder, so that checking it
    needs neither the gateway's environment nor its file permissions."""
    checkable = {k: v for k, v in entry.items() if k not in ("password_file", "password_env")}
    checkable["password"] = "not-read"
    return checkable


def _load_problem(config: GatewayConfig, entries: list[dict[str, Any]]) -> str | None:
    try:
        load_clusters(config, entries)
    except ConfigError as exc:
        return str(exc)
    except (TypeError, ValueError) as exc:  # a value of the wrong type deep inside
        return f"invalid value: {exc}"
    return None


def check_entry(config: GatewayConfig, current: Sequence[Mapping[str, Any]],
                entry: Mapping[str, Any]) -> str | None:
    """Why one entry (`bmcs add`, the API) cannot be registered, or None."""
    plan = plan_import(config, [e for e in current if e.get("name") != entry.get("name")],
                       [ImportRow("entry", dict(entry))])
    return str(plan.problems[0].message) if plan.problems else None
