"""A rollback by policy on the emulator: the fleet is updated to image A, then to image
B of the same bundle ID, then an operator rolls it back to A with `campaigns create
--allow-downgrade`. The rollback goes through canary, waves and checks like any
campaign, tells the BMCs ForceUpdate, needs no download (A stayed in the cache), ends
with A's versions read back, and keeps the rollout invariants (lab/lab_invariants.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import requests
from click.testing import CliRunner

from lab.cli import main
from lab.lab_invariants import check_rollout
from tests.conftest import BundleFactory, small_bundle_spec
from tests.integration.api.conftest import GROUPS, LiveFactory, LiveGateway, group_of
from tests.integration.orchestrator.rig import TARGET_VERSIONS
from tests.support.waiting import wait_until

NEWER = {"BMC": "2.1.0", "BIOS": "1.6.0", "NIC": "7.2"}


def _newer_spec() -> dict[str, Any]:
    spec = small_bundle_spec()
    spec["release"] = "test-2"
    ids = {}
    for package in spec["packages"]:
        new_id = f"{package['component'].lower()}-{NEWER[package['component']]}"
        ids[package["id"]] = new_id
        package.update(id=new_id, version=NEWER[package["component"]],
                       path=f"payloads/{new_id}.bin")
    for package in spec["packages"]:
        package["requires"] = [ids[r] for r in package["requires"]]
    return spec


def _cli(live: LiveGateway, *args: str, role: str = "operator") -> str:
    result = CliRunner().invoke(main, [*args, "--api-url", live.url],
                                env={"FLEETFLASH_TOKEN": live.tokens[role]})
    assert result.exit_code == 0, result.output
    return str(result.output)


def _campaigns(live: LiveGateway) -> list[dict[str, Any]]:
    response = requests.get(f"{live.url}/api/campaigns", timeout=10,
                            headers={"Authorization": f"Bearer {live.tokens['viewer']}"})
    return list(response.json()["items"])


def _run_to_completion(live: LiveGateway, campaign_id: str) -> None:
    _cli(live, "campaigns", "approve", campaign_id)
    _cli(live, "campaigns", "watch", campaign_id, "--interval", "0.3", role="viewer")


def _installed(live: LiveGateway) -> dict[str, dict[str, str]]:
    return {bmc.id: bmc.firmware.installed() for bmc in live.emulated.bmcs}


def _announce(live: LiveGateway, sha: str, uri: str, release: str) -> str:
    """Publish an image and wait for its campaign; returns the campaign id."""
    known = {c["id"] for c in _campaigns(live)}
    outcome = live.gateway.intake.raise_alert(source="acme", image_uri=uri, image_sha256=sha,
                                              bundle_id="test-bundle", release=release)
    assert not outcome.refused, outcome.reason
    wait_until(lambda: {c["id"] for c in _campaigns(live)} - known != set(), 90)
    (new,) = {c["id"] for c in _campaigns(live)} - known
    return new


def _check_invariants(live: LiveGateway, records: list[dict[str, Any]],
                      campaign_id: str) -> None:
    runs = requests.get(f"{live.url}/api/reports/campaigns/{campaign_id}", timeout=10,
                        headers={"Authorization": f"Bearer {live.tokens['viewer']}"}).json()
    nodes = [bmc.id for bmc in live.emulated.bmcs]
    checks = check_rollout(records, node_of_bmc={n: n for n in nodes},
                           group_of_node={n: group_of(n) for n in nodes}, allowance=GROUPS,
                           final_steps={r["node_id"]: r["outcome"] for r in runs["items"]})
    assert all(check.ok for check in checks), [c for c in checks if not c.ok]


def test_update_then_roll_back_to_the_previous_image(live_gateway: LiveFactory,
                                                     bundle_factory: BundleFactory) -> None:
    live = live_gateway(nodes=4, flash_seconds=0.2, cluster={
        "allow_downgrade": True, "delivery": ["msc", "simple_update"]})
    audit = live.emulated.audit
    newer = bundle_factory(_newer_spec(), name="fleet-test-2.iso")
    live.publisher.bundles[newer.name] = newer.resolve()
    newer_sha = hashlib.sha256(newer.read_bytes()).hexdigest()

    start = len(audit.records())
    first = _announce(live, live.sha256, live.image_uri, "test")
    _run_to_completion(live, first)
    assert set(map(str, _installed(live).values())) == {str(TARGET_VERSIONS)}
    between = len(audit.records())
    _check_invariants(live, audit.records()[start:between], first)

    second = _announce(live, newer_sha, live.publisher.url_for(newer), "test-2")
    _run_to_completion(live, second)
    assert set(map(str, _installed(live).values())) == {str(NEWER)}
    before_rollback = len(audit.records())
    _check_invariants(live, audit.records()[between:before_rollback], second)

    # Without --allow-downgrade image A changes nothing: every node is ahead of it.
    served_before = len(live.publisher.access_log)
    output = _cli(live, "campaigns", "create", "--image", live.sha256, "--cluster", "lab",
                  "--allow-downgrade")
    rollback = output.split()[1].rstrip(":")
    assert "(downgrades allowed)" in output and rollback == f"{first}-2"
    _run_to_completion(live, rollback)

    # Versions decide: above the target is not there yet (a BMC restarting into it).
    assert set(map(str, _installed(live).values())) == {str(TARGET_VERSIONS)}
    records = audit.records()[before_rollback:]
    _check_invariants(live, records, rollback)
    flashes = [r for r in records if r["event"] == "flash_start"]
    assert len(flashes) == 12  # 4 nodes x 3 components, each once
    assert all((r["from_version"], r["to_version"]) == (NEWER[r["component"]],
                                                        TARGET_VERSIONS[r["component"]])
               for r in flashes)
    assert len(live.publisher.access_log) == served_before  # A came from the cache
    detail = requests.get(f"{live.url}/api/campaigns/{rollback}", timeout=10,
                          headers={"Authorization": f"Bearer {live.tokens['viewer']}"}).json()
    assert detail["state"] == "completed"
    assert detail["waves"][0]["canary"] and len(detail["waves"]) >= 2
    assert {n["method"] for w in detail["waves"] for n in w["nodes"]} <= {
        "simple_update", "multipart_push"}  # ForceUpdate; the update CD only goes up
    nodes = requests.get(f"{live.url}/api/nodes?cluster=lab", timeout=10,
                         headers={"Authorization": f"Bearer {live.tokens['viewer']}"}).json()
    assert all(n["versions"] == TARGET_VERSIONS for n in nodes["items"])


def test_a_downgrade_is_refused_naming_the_policy(live_gateway: LiveFactory) -> None:
    live = live_gateway(nodes=2, flash_seconds=0.2)
    outcome = live.gateway.intake.raise_alert(
        source="acme", image_uri=live.image_uri, image_sha256=live.sha256,
        bundle_id="test-bundle", release="test")
    assert not outcome.refused
    wait_until(lambda: bool(_campaigns(live)), 90)
    result = CliRunner().invoke(main, ["campaigns", "create", "--image", live.sha256,
                                       "--cluster", "lab", "--allow-downgrade",
                                       "--api-url", live.url],
                                env={"FLEETFLASH_TOKEN": live.tokens["operator"]})
    assert result.exit_code == 1
    assert "409" in result.output and "allow_downgrade is false" in result.output
    assert "cluster 'lab'" in result.output and "source 'acme'" in result.output
    assert len(_campaigns(live)) == 1  # nothing half-created
