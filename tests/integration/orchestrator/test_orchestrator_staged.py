"""Staged activation end to end on the emulator (docs/orchestration.md, "Staged
activation"): images are staged (apply time OnReset) whenever the gateway likes, and
only the disruptive part — the resets, and the BMC firmware, which restarts the BMC —
happens inside the maintenance window, one node of the group at a time, the canary
first. The emulator and the gateway are restarted between a node's staging and its
reset; the staged image is kept. A node whose window does not come while the campaign
runs ends `staged`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from emulator.audit import read_audit_log
from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.publisher import BundleServer
from gateway.config import load_config
from gateway.service import Gateway, build_gateway
from gateway.store import ImageState
from tests.conftest import BundleFactory, TestKeys, small_bundle_spec
from tests.integration.orchestrator.rig import (
    TARGET_VERSIONS,
    TEST_MODEL,
    power_on,
    raise_alert_and_wait_for_campaign,
    serving,
    write_gateway_config,
)
from tests.support.ports import free_port_block
from tests.support.waiting import wait_until

NODES = 5
NEVER = "bmc-0004"  # its window is days away: it is staged, and waits for its reset
BEFORE = {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "1.0.0"}
INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"


def _free_base_port(count: int) -> int:
    """A port with `count` free ports from it (+ the admin port after them), below the
    ephemeral range: the emulator comes back on the same ones."""
    return free_port_block(count + 1)


def _next_opening(margin_s: float) -> datetime:
    """The first whole minute at least `margin_s` from now (windows start on minutes)."""
    now = datetime.now(UTC)
    opening = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while (opening - now).total_seconds() < margin_s:
        opening += timedelta(minutes=1)
    return opening


class Lab:
    """Emulated BMCs that can be restarted on the same ports, keeping their hosts."""

    def __init__(self, tmp_path: Path, test_keys: TestKeys) -> None:
        self.audit_path = tmp_path / "audit.jsonl"
        self.settings: dict[str, Any] = {
            "nodes": [NodeSpec(model=TEST_MODEL, password=f"staged-pw-{i}",
                               serial=f"FFSTAGED{i:04d}", firmware=dict(BEFORE))
                      for i in range(NODES)],
            "trusted_keys": [test_keys.public], "flash_seconds": 0.2, "reset_seconds": 0.3,
            "bmc_restart_seconds": 0.3, "base_port": _free_base_port(NODES),
            "admin_port": None, "host_prefix": f"staged-{tmp_path.name[-10:]}-",
            "keep_hosts": True, "audit_log": self.audit_path,
        }
        self.cluster = EmulatedCluster(**self.settings).start()

    def restart(self) -> None:
        self.cluster.stop()
        self.cluster = EmulatedCluster(**self.settings).start()

    def stop(self) -> None:
        self.cluster.stop()
        import libvirt

        connection = libvirt.open("test:///default")
        for bmc in self.cluster.bmcs:
            domain = connection.lookupByName(self.settings["host_prefix"] + bmc.host)
            if domain.isActive():
                domain.destroy()
            domain.undefine()

    def audit(self) -> list[dict[str, Any]]:
        return list(read_audit_log(self.audit_path))


@pytest.fixture
def lab(tmp_path: Path, test_keys: TestKeys) -> Iterator[Lab]:
    lab = Lab(tmp_path, test_keys)
    try:
        yield lab
    finally:
        lab.stop()


def _inventory(node: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every FirmwareInventory member of the BMC, by Id, as a Redfish client reads it."""
    auth = (node["username"], node["password"])
    members = requests.get(node["url"] + INVENTORY, auth=auth, timeout=10).json()["Members"]
    bodies = [requests.get(node["url"] + m["@odata.id"], auth=auth, timeout=10).json()
              for m in members]
    return {b["Id"]: b for b in bodies}


def _staged_member(node: dict[str, str]) -> tuple[str, str, str] | None:
    member = _inventory(node).get("Staged-BIOS")
    if member is None:
        return None
    return member["Version"], member["Status"]["State"], _inventory(node)["BIOS"]["Version"]


def _start_gateway(tmp_path: Path, lab: Lab, publisher: BundleServer, test_keys: TestKeys,
                   opening: datetime) -> Gateway:
    config = _write_config(tmp_path, lab, publisher, test_keys, opening)
    gateway = build_gateway(load_config(config), worker_poll_interval=0.2)
    gateway.start()
    return gateway


def _write_config(tmp_path: Path, lab: Lab, publisher: BundleServer, test_keys: TestKeys,
                  opening: datetime) -> Path:
    """The staged cluster's gateway.toml: NEVER's window is days away, the others'
    opens at ``opening``."""
    never_day = (datetime.now(UTC) + timedelta(days=3)).weekday()
    return write_gateway_config(
        tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
        bmcs=lab.cluster.inventory, group_of=lambda _n: "all", groups={"all": 1},
        cluster={"delivery": ["simple_update"], "activation": "staged"},
        # Retries that outlast an emulator restart, should the window open during it.
        orchestrator={"expected_reset_s": 60, "retry_attempts": 12},
        qos_classes=[
            {"name": "soon", "order": 0, "windows": [
                {"days": [opening.weekday()], "start": opening.strftime("%H:%M"),
                 "hours": 0.25}]},
            {"name": "never", "order": 1, "windows": [
                {"days": [never_day], "start": "00:00", "hours": 1}]}],
        qos_of=lambda node: "never" if node == NEVER else "soon")


def _prepare(lab: Lab, bundle_factory: BundleFactory, name: str
             ) -> tuple[Path, str, int, datetime]:
    """The bundle (its BIOS stageable before the BMC firmware is written) and its
    sha256, hosts powered on, where the test's audit records start, the window's
    opening."""
    spec = small_bundle_spec()
    for package in spec["packages"]:
        package["requires"] = []
    bundle = bundle_factory(spec, name=name)
    power_on(lab.cluster)
    return (bundle, hashlib.sha256(bundle.read_bytes()).hexdigest(), len(lab.audit()),
            _next_opening(margin_s=60))


def test_staged_campaign_resets_only_inside_the_window(
        tmp_path: Path, lab: Lab, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    bundle, sha, audit_from, opening = _prepare(lab, bundle_factory, "staged.iso")
    with BundleServer([bundle]) as publisher:
        gateway = _start_gateway(tmp_path, lab, publisher, test_keys, opening)
        try:
            assert gateway.orchestration is not None
            service = gateway.orchestration.service
            outcome = gateway.intake.raise_alert(
                source="acme", image_uri=publisher.url_for(bundle), image_sha256=sha,
                bundle_id="test-bundle", release="test")
            assert not outcome.refused, outcome.reason
            wait_until(lambda: gateway.store.get_image(sha).state is ImageState.VERIFIED, 60)
            wait_until(lambda: bool(service.list_campaigns()), 60)
            campaign_id = service.list_campaigns()[0].id
            (canary,) = service.show(campaign_id).campaign.canaries
            assert canary != NEVER

            def step(node: str) -> str:
                return service.store.run(campaign_id, node).step

            # The canary stages at once, before its window: nothing else moves (the
            # canary gate), and nothing goes down.
            wait_until(lambda: step(canary) == "staged", 60,
                       describe=lambda: service.report(campaign_id).to_json())
            assert datetime.now(UTC) < opening, "the window opened before the canary staged"
            node = {n["id"]: n for n in lab.cluster.inventory}[canary]
            assert _staged_member(node) == ("1.5.0", "StandbySpare", "1.0.0")
            others = [f"bmc-{i:04d}" for i in range(NODES) if f"bmc-{i:04d}" != canary]
            assert {step(n) for n in others} == {"pending"}

            # The emulator restarts between stage and reset: the staged image is kept.
            lab.restart()
            node = {n["id"]: n for n in lab.cluster.inventory}[canary]
            assert _staged_member(node) == ("1.5.0", "StandbySpare", "1.0.0")
            assert lab.cluster.bmc(canary).firmware.installed() == BEFORE
            # So does the gateway: the staged node waits in the store, leased to no one.
            gateway.stop()
            gateway = build_gateway(load_config(tmp_path / "gateway.toml"),
                                    worker_poll_interval=0.2)
            gateway.start()
            assert gateway.orchestration is not None
            service = gateway.orchestration.service
            assert step(canary) == "staged"

            soon = [n for n in (canary, *others) if n != NEVER]
            wait_until(lambda: all(step(n) == "done" for n in soon), 240,
                       describe=lambda: service.report(campaign_id).to_json())
            wait_until(lambda: step(NEVER) == "staged", 60)
            assert service.show(campaign_id).campaign.state == "running"

            # The node whose window never came: staged, its versions unchanged.
            never = {n["id"]: n for n in lab.cluster.inventory}[NEVER]
            assert _staged_member(never) == ("1.5.0", "StandbySpare", "1.0.0")
            assert lab.cluster.bmc(NEVER).firmware.installed() == BEFORE
            service.abort(campaign_id)
            wait_until(lambda: service.show(campaign_id).campaign.state == "aborted", 30)
            report = service.report(campaign_id)
        finally:
            gateway.stop()

    outcomes = {n.node_id: n.outcome for n in report.nodes}
    assert outcomes == {**dict.fromkeys(soon, "done"), NEVER: "staged"}, report.to_json()
    for node_id in soon:
        assert lab.cluster.bmc(node_id).firmware.installed() == TARGET_VERSIONS, node_id
    _check_audit(lab.audit()[audit_from:], canary, opening)


def test_kill_9_between_stage_and_reset_resumes_without_a_second_flash(
        tmp_path: Path, lab: Lab, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    # `kill -9` of a real `fleetflash gateway serve` while the canary stages (or has
    # staged) and again while it waits for its window: the restarted gateway adopts what
    # the BMC holds, writes nothing twice, resets in the window; NEVER stays staged.
    bundle, sha, audit_from, opening = _prepare(lab, bundle_factory, "staged-kill.iso")
    with BundleServer([bundle]) as publisher:
        config_path = _write_config(tmp_path, lab, publisher, test_keys, opening)
        config = load_config(config_path)
        with serving([config_path], config.database_url) as ([gateway], images, campaigns):
            campaign_id = raise_alert_and_wait_for_campaign(config, images, campaigns,
                                                            publisher, bundle, sha)
            (canary,) = campaigns.get_campaign(campaign_id).canaries

            def step(node: str) -> str:
                return campaigns.run(campaign_id, node).step

            wait_until(lambda: step(canary) in ("stage", "staged"), 60)
            gateway.kill()  # staging under way, or just done
            gateway.start()
            wait_until(lambda: step(canary) == "staged", 60)
            assert datetime.now(UTC) < opening, "the window opened before the canary staged"
            gateway.kill()  # staged, waiting for its window
            gateway.start()
            soon = [f"bmc-{i:04d}" for i in range(NODES) if f"bmc-{i:04d}" != NEVER]
            wait_until(lambda: all(step(n) == "done" for n in soon), 240)
            wait_until(lambda: step(NEVER) == "staged", 60)
            runs = {r.node_id: r for r in campaigns.runs(campaign_id)}
    assert {n: r.step for n, r in runs.items()} == {**dict.fromkeys(soon, "done"),
                                                    NEVER: "staged"}
    for node_id in soon:
        assert lab.cluster.bmc(node_id).firmware.installed() == TARGET_VERSIONS, node_id
    assert lab.cluster.bmc(NEVER).firmware.installed() == BEFORE
    _check_audit(lab.audit()[audit_from:], canary, opening)


def _check_audit(audit: list[dict[str, Any]], canary: str, opening: datetime) -> None:
    """What the BMCs saw: staging (BIOS written, not activated) at any time; everything
    disruptive — resets, power changes, BMC restarts, the BMC and NIC firmware — only
    inside the window, one node at a time; each component written once."""
    def at(record: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(str(record["ts"]))

    # A kill while the BMC reads the image from the gateway's media server fails that
    # transfer (Update.TransferFailed: nothing written) and the restarted gateway stages
    # again; a write is a BIOS flash_start whose task did not fail.
    failed = [r for r in audit if r["event"] == "flash_failed" and r["component"] == "BIOS"]
    assert {r.get("message") for r in failed} <= {"Update.TransferFailed"}, failed
    lost = {(r["bmc"], r.get("task")) for r in failed}
    attempts = [r for r in audit if r["event"] == "flash_start" and r["component"] == "BIOS"]
    staging = [r for r in attempts if (r["bmc"], r.get("task")) not in lost]
    disruptive = [r for r in audit if r not in attempts and r not in failed and r["event"] in (
        "reset", "power", "bmc_restart", "flash_start", "flash_end")]
    assert Counter(r["bmc"] for r in staging) == dict.fromkeys(
        [f"bmc-{i:04d}" for i in range(NODES)], 1)
    (canary_staging,) = [r for r in staging if r["bmc"] == canary]
    assert at(canary_staging) < opening  # staging is not bound to the window
    early = [r for r in disruptive if at(r) < opening]
    assert not early, early
    assert not [r for r in disruptive if r["bmc"] == NEVER]
    activations = [r for r in audit if r["event"] == "flash_end" and r["component"] == "BIOS"]
    assert {r.get("activated_by") for r in activations} == {"host_reset"}
    written = Counter((r["bmc"], r["component"]) for r in audit if r["event"] == "flash_end")
    assert set(written.values()) == {1} and len(written) == 3 * (NODES - 1), written
    # The allowance (1) during the resets: no two nodes' disruptive spans overlap.
    spans: dict[str, tuple[datetime, datetime]] = {}
    for record in disruptive:
        first, last = spans.get(record["bmc"], (at(record), at(record)))
        spans[record["bmc"]] = (min(first, at(record)), max(last, at(record)))
    ordered = sorted(spans.values())
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        assert end <= start, ordered
    # The canary's reset came before every other node's.
    assert spans[canary][1] <= min(s for b, (s, _) in spans.items() if b != canary)
