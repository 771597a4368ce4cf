"""Power the emulated hosts on: a managed server runs, but the emulator starts its hosts
off. Done through each BMC's Redfish ComputerSystem.Reset, as an operator would, with the
action's target read from the system resource."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from lab.lab_state import LabError

WORKERS = 16


def _system(bmc: dict[str, Any]) -> dict[str, Any]:
    response = requests.get(bmc["url"].rstrip("/") + "/redfish/v1/Systems/1", timeout=30,
                            auth=(bmc["username"], bmc["password"]))
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def _guarded(action: str, bmc: dict[str, Any], call: Any) -> Any:
    try:
        return call()
    except (requests.RequestException, KeyError, ValueError) as exc:
        raise LabError(f"cannot {action} the host of {bmc['id']}: "
                       f"{exc.__class__.__name__}") from exc


def _press_power(bmc: dict[str, Any]) -> None:
    def press() -> None:
        system = _system(bmc)
        if system.get("PowerState") in ("On", "PoweringOn"):
            return
        target = system["Actions"]["#ComputerSystem.Reset"]["target"]
        requests.post(bmc["url"].rstrip("/") + target, json={"ResetType": "On"}, timeout=30,
                      auth=(bmc["username"], bmc["password"])).raise_for_status()
    _guarded("power on", bmc, press)


def power_on(inventory: Sequence[dict[str, Any]], timeout_s: float = 120.0) -> None:
    """Power every host on (all at once), then wait until each reports PowerState On.
    Raises LabError naming the first BMC that refuses or does not come on in time."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(_press_power, inventory))
    deadline = time.monotonic() + timeout_s
    waiting = list(inventory)
    while waiting:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            states = list(pool.map(
                lambda bmc: _guarded("read", bmc, lambda: _system(bmc).get("PowerState")),
                waiting))
        waiting = [bmc for bmc, state in zip(waiting, states, strict=True) if state != "On"]
        if waiting and time.monotonic() > deadline:
            raise LabError(f"the host of {waiting[0]['id']} did not power on "
                           f"within {timeout_s:.0f} s")
        if waiting:
            time.sleep(0.2)
