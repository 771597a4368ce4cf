"""Two `fleetflash gateway serve` processes on one PostgreSQL: each BMC pushes its events
to the gateway that drives its node, and to no other.

In a fleet the campaign's inventory subscribes no BMC (the gateway that made it would
receive every BMC's events); the gateway a node is given subscribes its BMC at the
node's first step, before anything is delivered. A subscription left by a member
that stopped (same Context, its registered address) is removed then; one to a live
member, or to a gateway on another database, stays.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from gateway.config import load_config
from gateway.store.gateways import GatewayRegistry, list_members
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    IN_FLIGHT,
    assert_rollout_invariants,
    emulated_rollout,
    even_odd_group,
    raise_alert_and_wait_for_campaign,
    serving,
    wait_for,
    write_gateway_config,
)
from tests.support.ports import restartable_port

NODES = 6
GROUPS = {"even": 2, "odd": 2}


def _fleetflash_subscriptions(bmc: dict[str, str]) -> list[str]:
    """The Destinations of the BMC's fleetflash subscriptions, read over Redfish."""
    auth = (bmc["username"], bmc["password"])
    base = bmc["url"] + "/redfish/v1/EventService/Subscriptions"
    members = requests.get(base, auth=auth, timeout=10).json()["Members"]
    found: list[dict[str, Any]] = [
        requests.get(bmc["url"] + m["@odata.id"], auth=auth, timeout=10).json()
        for m in members]
    return [s["Destination"] for s in found if s.get("Context", "").startswith("fleetflash")]


def _plant(bmc: dict[str, str], destination: str) -> None:
    """A fleetflash subscription made earlier (by a gateway of this fleet)."""
    response = requests.post(bmc["url"] + "/redfish/v1/EventService/Subscriptions",
                             auth=(bmc["username"], bmc["password"]), timeout=10,
                             json={"Destination": destination, "Protocol": "Redfish",
                                   "Context": f"fleetflash {bmc['id']}"})
    assert response.status_code == 201, response.text


def test_each_bmc_pushes_its_events_to_the_gateway_driving_its_node(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        postgres_url: str) -> None:
    bundle = bundle_factory(name="fleet-events.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    with emulated_rollout(test_keys, bundle, NODES, flash_seconds=0.5,
                          reset_seconds=0.3) as (emulated, publisher, audit_from):
        receivers: dict[str, str] = {}
        paths = []
        for index in range(2):
            name, port = f"gw-{index}", restartable_port()
            receivers[name] = f"http://127.0.0.1:{port}/"
            directory = tmp_path / name
            directory.mkdir()
            paths.append(write_gateway_config(
                directory, database_url=postgres_url, name=name,
                publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
                bmcs=emulated.inventory, group_of=even_odd_group, groups=GROUPS,
                orchestrator={"events_http": f"127.0.0.1:{port}", "leader_share": 1.0}))
        bmcs = {b["id"]: b for b in emulated.inventory}
        with serving(paths, postgres_url) as (_gateways, images, campaigns):
            assert wait_for(lambda: sum(m.alive for m in list_members(images.engine)) == 2, 30)
            assert {m.name: m.events_url for m in list_members(images.engine)} == {
                name: f"{url}redfish-events/" for name, url in receivers.items()}
            # Before this campaign every BMC pushes to a member of this fleet that has
            # stopped, to gw-1 under an older token (its events secret was replaced,
            # say), and to a gateway on another database: only the first goes.
            gone = f"http://127.0.0.1:{restartable_port()}/redfish-events/"
            stopped = GatewayRegistry(images.engine, "gw-gone", "old", host="elsewhere",
                                      pid=1, dead_after=timedelta(seconds=60))
            stopped.register(events_url=gone)
            stopped.deregister()
            foreign = f"http://127.0.0.1:{restartable_port()}/redfish-events/"
            for node, bmc in bmcs.items():
                _plant(bmc, f"{gone}{node}/token")
                _plant(bmc, f"{receivers['gw-1']}redfish-events/{node}/older-token")
                _plant(bmc, f"{foreign}{node}/token")
            campaign_id = raise_alert_and_wait_for_campaign(
                load_config(paths[0]), images, campaigns, publisher, bundle, sha)
            # The inventory behind the campaign subscribed nobody: a node not started
            # yet has a BMC that pushes to no live gateway but what was planted.
            waiting = [r.node_id for r in campaigns.runs(campaign_id) if r.step == "pending"]
            assert waiting and len(_fleetflash_subscriptions(bmcs[waiting[0]])) == 3

            drivers: dict[str, set[str]] = {}
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                runs = campaigns.runs(campaign_id)
                for run in runs:
                    if run.step in IN_FLIGHT and run.lease_owner:
                        drivers.setdefault(run.node_id, set()).add(run.lease_owner)
                if all(r.step in ("done", "failed") for r in runs):
                    break
                time.sleep(0.05)
            runs = campaigns.runs(campaign_id)

        assert Counter(r.step for r in runs) == {"done": NODES}, [
            (r.node_id, r.step, r.error) for r in runs]
        assert_rollout_invariants(emulated, audit_from, even_odd_group, GROUPS)
        assert len({owner for owners in drivers.values() for owner in owners}) == 2, drivers
        for node, owners in drivers.items():
            assert len(owners) == 1, (node, owners)  # no gateway died: one driver each
            (owner,) = owners
            destinations = set(_fleetflash_subscriptions(bmcs[node]))
            # The stopped member's subscription was removed; the live gw-1's and the
            # other database's gateway's were kept.
            kept = {f"{receivers['gw-1']}redfish-events/{node}/older-token",
                    f"{foreign}{node}/token"}
            assert kept <= destinations and len(destinations) == 3, (node, destinations)
            (driver,) = destinations - kept
            assert driver.startswith(receivers[owner]), (node, owner, destinations)
