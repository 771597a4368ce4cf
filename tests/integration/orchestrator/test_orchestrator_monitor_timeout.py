"""A MONITOR timeout says which components were still behind (seen version against
target) and what the BMC last said, not only how long the gateway waited."""

from __future__ import annotations

import pytest

from tests.integration.orchestrator.conftest import RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL


@pytest.mark.parametrize(("method", "fault", "said"), [
    ("simple_update", "task_hangs", "the BMC last said: task Running"),
    ("msc", "reset_hangs", "no BMC task to follow"),
])
def test_monitor_timeout_names_what_was_behind_and_what_the_bmc_said(
        rollout: RolloutFactory, method: str, fault: str, said: str) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"delivery": [method]}, timeouts={"monitor": 3})
    for bmc in rig.emulated.bmcs:
        bmc.faults.set(fault)
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "failed") == "failed"
    run = rig.quarantined_canary(campaign_id)
    error = run.error or ""
    assert error.startswith("monitor timed out after 3 s; still behind: "), error
    # Every component still below the image's version, with the version the BMC reports.
    installed = rig.emulated.bmc(run.node_id).firmware.installed()
    behind = [c for c, target in TARGET_VERSIONS.items() if installed[c] != target]
    assert "BIOS" in behind
    for component in behind:
        assert f"{component} {installed[component]} (want {TARGET_VERSIONS[component]})" \
            in error, error
    assert said in error, error
