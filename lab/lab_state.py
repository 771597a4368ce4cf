"""The lab's JSON state file: what `lab up` started and how to reach it.

The keys are a contract (docs/lab.md, "The state file") that scripts and tests read directly:
``gateway.{cim_url,cim_username,cim_password,api_url,api_token,config,pid}``,
``publisher.{url,pid}``, ``emulator.{inventory,pid,admin_url,admin_token}``,
``audit_log``, ``keys.{public,private}``, plus ``topology``, ``workdir`` and
``nodes`` (topology node name -> emulator BMC id). ``gateways`` lists every
gateway (``[{name, pid, api_url, cim_url, media_url, config}]``; ``gateway.*`` is
the first), ``database`` the store (``{kind: sqlite}`` or ``{kind: postgresql,
url, dir, pid}``). The file holds secrets
(passwords, the admin token), so it is written with mode 0600.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE_NAME = "lab-state.json"


class LabError(Exception):
    """Root of the lab's errors: a message fit for one line on the terminal."""


@dataclass(frozen=True)
class LabState:
    """A running lab, as recorded in the state file (see the module docstring)."""

    document: dict[str, Any]
    path: Path

    def get(self, dotted: str) -> Any:
        """The value at a dotted key such as ``gateway.api_url``; LabError if absent."""
        value: Any = self.document
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                raise LabError(f"{self.path}: state file has no {dotted!r}")
            value = value[part]
        return value

    @property
    def workdir(self) -> Path:
        return Path(self.get("workdir"))

    @property
    def api_url(self) -> str:
        return str(self.get("gateway.api_url"))

    @property
    def api_token(self) -> str:
        return str(self.get("gateway.api_token"))

    @property
    def audit_log(self) -> Path:
        return Path(self.get("audit_log"))

    @property
    def node_of_bmc(self) -> dict[str, str]:
        """Emulator BMC id -> topology node name."""
        return {bmc: node for node, bmc in self.get("nodes").items()}

    def pids(self) -> dict[str, int]:
        """Process name -> pid of every process the lab started: "gateway" (the first),
        "gateway-2", ... (``gateways``), "publisher", "emulator", and "postgres" when the
        lab runs its own database server."""
        pids = {name: int(self.document[name]["pid"]) for name in ("gateway", "publisher",
                                                                    "emulator")
                if isinstance(self.document.get(name), dict) and "pid" in self.document[name]}
        gateways = self.document.get("gateways")
        for index, entry in enumerate(gateways if isinstance(gateways, list) else []):
            if index and isinstance(entry, dict) and "pid" in entry:
                pids[f"gateway-{index + 1}"] = int(entry["pid"])
        database = self.document.get("database")
        if isinstance(database, dict) and database.get("pid"):
            pids["postgres"] = int(database["pid"])
        return pids


def write_state(path: Path, document: dict[str, Any]) -> LabState:
    """Write `document` to `path` atomically with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    temporary.replace(path)
    return LabState(document, path)


def read_state(path: Path) -> LabState:
    """The state `lab up` wrote at `path`; LabError if it is missing or not a lab state."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LabError(f"no lab state at {path} (start one with `fleetflash lab up`)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabError(f"cannot read lab state {path}: {exc}") from exc
    if not isinstance(document, dict) or "gateway" not in document:
        raise LabError(f"{path} is not a lab state file")
    return LabState(document, path)
