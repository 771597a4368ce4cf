"""A canary that fails stops the campaign: nothing beyond the canaries is touched
(tests/unit/lab/fixtures/canary-fails.yaml: every FF-1U-R450 fails its flash)."""

from __future__ import annotations

from lab.lab_invariants import check_rollout
from tests.e2e.conftest import FIXTURES, LAB_POLL_S, LAB_WAIT_S, LabFactory, fleetflash
from tests.support.waiting import wait_until


def test_lab_failing_canary_fails_the_campaign_and_touches_nothing_else(
        lab_up: LabFactory) -> None:
    lab = lab_up(FIXTURES / "canary-fails.yaml")
    published = fleetflash("lab", "publish", "--state-file", str(lab.state_file))
    assert published.returncode == 0, published.stderr
    assert "announced fleetflash-2026q4 2026.Q4" in published.stdout

    wait_until(lambda: any(c["state"] == "failed" for c in lab.campaigns().values()),
               LAB_WAIT_S, interval_s=LAB_POLL_S)
    wait_until(lambda: not {"failed", "eject", "monitor", "precheck", "deliver"}
               & set(lab.steps().values()), LAB_WAIT_S, interval_s=LAB_POLL_S)
    (campaign,) = lab.campaigns().values()
    assert "canary" in campaign["reason"]
    canaries = {n["node_id"] for w in campaign["waves"] if w["canary"] for n in w["nodes"]}
    assert len(canaries) == 2  # one per model: an R450 (fails) and an R750
    steps = lab.steps()
    failed_canaries = {n for n in canaries if steps[n] == "quarantined"}
    assert len(failed_canaries) == 1 and next(iter(failed_canaries)).startswith("cf-r")
    assert {steps[n] for n in set(steps) - canaries} == {"skipped"}

    # The BMCs' own record: only canaries saw any update activity.
    audit = lab.audit()
    node_of_bmc = lab.state.node_of_bmc
    touched = {node_of_bmc[r["bmc"]] for r in audit if r["event"] != "power"}
    assert touched <= canaries
    assert touched >= failed_canaries
    checks = check_rollout(audit, node_of_bmc=node_of_bmc,
                           group_of_node={n: n.rsplit("-", 1)[0] for n in steps},
                           allowance={"cf-r1": 1, "cf-r2": 1})
    assert all(check.ok for check in checks), checks
