"""A BMC restarting again and again while clients poll it, keep-alive and not.

Every GET must end in an answer or a connection error (refused while down,
reset by the restart), never in a client waiting for good: that is how a
whole-suite run once hung in a FirmwareInventory GET right after a restart.
The read timeout only detects such a wait; nothing asserts speed.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from typing import Any

import requests

from tests.integration.emulator.conftest import refuses_connections, wait_until
from tests.support.background import running

HANG_S = 20.0  # far beyond any answer: a client waiting this long was forgotten
RESTARTS = 15
CLIENTS = 8
INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"


def _poll(node: dict[str, str], keep_alive: bool, outcomes: Counter[str],
          stop: threading.Event) -> None:
    session = requests.Session()
    while not stop.is_set():
        if not keep_alive:
            session.close()
            session = requests.Session()
        try:
            response = session.get(node["url"] + INVENTORY, auth=(node["username"],
                                   node["password"]), timeout=(HANG_S, HANG_S))
        except requests.Timeout:
            outcomes["no answer"] += 1
        except requests.ConnectionError:
            outcomes["refused or reset"] += 1
        else:
            outcomes["answered" if response.status_code == 200
                     and response.json()["Members"] else f"status {response.status_code}"] += 1
    session.close()


def test_gets_during_repeated_bmc_restarts_are_answered_or_refused_never_left_waiting(
        cluster_factory: Any) -> None:
    cluster = cluster_factory(bmc_restart_seconds=0.05)
    node = cluster.inventory[0]
    bmc = cluster.bmc(node["id"])
    outcomes: Counter[str] = Counter()
    with running(functools.partial(_poll, node, index % 2 == 0, outcomes)
                 for index in range(CLIENTS)):
        for _ in range(RESTARTS):
            bmc.restart_bmc("restart under load")
            wait_until(lambda: not bmc.manager_restarting
                       and not refuses_connections(node["url"]))
    assert outcomes["no answer"] == 0, outcomes
    assert set(outcomes) <= {"answered", "refused or reset"}, outcomes
    assert outcomes["answered"] > 0 and outcomes["refused or reset"] > 0, outcomes
