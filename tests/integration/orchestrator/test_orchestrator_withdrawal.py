"""A withdrawal (FWUP0002) in the middle of a rollout, under each source policy.

The nodes are updated by the update CD (MSC) of the real emulator, whose audit
log says what each BMC really flashed. The withdrawal comes while nodes are in
MONITOR, one of them between two components: finish_in_flight lets every node
already delivering complete and be verified; stop_now revokes the media at once,
so that node is cut mid-update and must say exactly what changed. Either way no
node ends quarantined while its update completed, the versions the API shows are
the ones on the BMC, and no media is left inserted.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from gateway.api.orchestration import OrchestratorOperations
from tests.integration.orchestrator.conftest import Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL
from tests.support.waiting import wait_until

FINISHED = {"done", "quarantined", "partial", "skipped"}


def _flashed(rig: Rollout) -> dict[str, dict[str, str]]:
    """Per BMC, the versions the audit log says it ended with (flash_end records)."""
    versions: dict[str, dict[str, str]] = defaultdict(dict)
    for record in rig.audit():
        if record.get("event") == "flash_end":
            versions[record["bmc"]][record["component"]] = record["to_version"]
    return versions


def _cd_starts(rig: Rollout) -> dict[str, int]:
    """Per BMC, how many components its update CD began to flash."""
    starts: dict[str, int] = defaultdict(int)
    for record in rig.audit():
        if record.get("event") == "flash_start" and record.get("source") == "update_cd":
            starts[record["bmc"]] += 1
    return starts


def _withdraw_mid_update(rig: Rollout) -> tuple[str, set[str], int]:
    """Withdraw once, after the canary, a node's CD finished one component and began
    the next (the node is in MONITOR, with others); returns that node, the nodes
    in MONITOR at that moment, and how many audit records came before it."""
    campaign_id = rig.campaign_id()
    canaries = set(rig.service.show(campaign_id).campaign.canaries)

    def cut_now() -> str | None:
        return next((bmc for bmc, n in _cd_starts(rig).items()
                     if n >= 2 and bmc not in canaries), None)

    wait_until(lambda: cut_now() is not None, 120,
               describe=lambda: rig.service.report(campaign_id).to_json())
    cut = cut_now()
    assert cut is not None
    seen = len(rig.audit())
    outcome = rig.gateway.intake.withdraw_image(source="acme", bundle_id="test-bundle",
                                                image_sha256=rig.sha256)
    assert not outcome.refused, outcome.reason
    monitoring = {r.node_id for r in rig.service.show(campaign_id).runs
                  if r.step == "monitor"}
    assert cut in monitoring and len(monitoring) > 1, monitoring
    return cut, monitoring, seen


def _finish(rig: Rollout) -> dict[str, Any]:
    """Wait until the campaign aborted and every run rests; the runs by node."""
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "aborted") == "aborted"
    wait_until(lambda: {r.step for r in rig.service.show(campaign_id).runs} <= FINISHED,
               120, describe=lambda: rig.service.report(campaign_id).to_json())
    return {r.node_id: r for r in rig.service.show(campaign_id).runs}


def _check_against_audit(rig: Rollout, runs: dict[str, Any]) -> None:
    """Each outcome agrees with what the BMC did; the API shows the BMC's versions; no
    media left inserted."""
    flashed = _flashed(rig)
    api = OrchestratorOperations(rig.service, rig.orchestrator.clusters)
    for node, run in runs.items():
        bmc = rig.emulated.bmc(node)
        installed = bmc.firmware.installed()
        changed = set(flashed.get(node, {}))
        if run.step == "done":
            assert installed == TARGET_VERSIONS, (node, installed)
        if changed == set(TARGET_VERSIONS) and installed == TARGET_VERSIONS:
            assert run.step == "done", (node, run.step, run.error)
        if run.step == "partial":
            assert changed and changed != set(TARGET_VERSIONS), (node, changed)
            for component in TARGET_VERSIONS:  # the error names each component
                assert component in (run.error or ""), (node, run.error)
            assert f"changed {sorted(changed)[0]} " in (run.error or "")
        if run.step == "quarantined":
            assert not changed or "versions read back" in (run.error or ""), run.error
        if run.step != "skipped":
            assert api.get_node(node).to_json()["versions"] == installed, node
        assert not bmc.media.inserted, f"{node}: media left inserted"


@pytest.mark.parametrize("policy", ["finish_in_flight", "stop_now"])
def test_withdrawal_while_nodes_are_in_monitor(rollout: RolloutFactory, policy: str) -> None:
    rig = rollout(models=[TEST_MODEL] * 5, groups={"all": 3}, flash_seconds=1.5,
                  source={"withdrawal": policy}, timeouts={"verify": 30})
    rig.announce()
    cut, monitoring, seen = _withdraw_mid_update(rig)
    runs = _finish(rig)
    _check_against_audit(rig, runs)
    # Nothing new after the withdrawal: no CD inserted, no host reset by the gateway
    # (a redelivery); only the update CDs already running rebooted their hosts.
    after = rig.audit()[seen:]
    assert not [r for r in after if r["event"] == "media_insert"], after
    assert all(r.get("reason") == "update CD finished" for r in after
               if r["event"] == "reset"), after
    if policy == "finish_in_flight":
        # Every node already delivering completed and was verified.
        for node in monitoring:
            assert runs[node].step == "done", (node, runs[node].step, runs[node].error)
            assert rig.emulated.bmc(node).firmware.installed() == TARGET_VERSIONS
    else:
        # The node between two components was cut: it says what changed.
        assert runs[cut].step in ("partial", "quarantined"), runs[cut].step
        assert "changed" in (runs[cut].error or ""), runs[cut].error
        assert rig.emulated.bmc(cut).firmware.installed() != TARGET_VERSIONS
    # Nothing new started after the withdrawal: the nodes not yet started are skipped.
    assert all(run.step == "skipped" for node, run in runs.items()
               if node not in monitoring and run.started_at is None)
