"""`fleetflash lab demo` on demo.yaml, as `make demo` runs it: the whole autonomous
rollout over virtual media, the final compliance table, every invariant, teardown."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from emulator.audit import read_audit_log
from gateway.store import GatewayStore
from gateway.store.campaigns import CampaignStore
from lab import lab_processes
from lab.lab_state import read_state
from lab.runner import MARKERS
from tests.e2e.conftest import fleetflash

QUARANTINE_WITHIN_S = 10  # the target: quarantined within 10 s of the failed flash
CHECKS = ("no node flashed twice", "max down per group within allowance",
          "no media left inserted", "failed node quarantined, the rest completed",
          "every campaign completed")


def test_lab_demo_rolls_out_the_demo_topology_and_every_invariant_holds(tmp_path: Path) -> None:
    state_file, workdir = tmp_path / "state.json", tmp_path / "demo"
    result = fleetflash("lab", "demo", "--state-file", str(state_file),
                        "--workdir", str(workdir), timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "demo passed" in out
    for check in CHECKS:
        assert re.search(rf"{re.escape(check)}\s*│\s*PASS", out), check
    assert "FAIL" not in out
    # The failing node is reported, still on its old versions; the rest are compliant.
    assert re.search(r"web-r2-3 quarantined: ", out)
    assert re.search(r"│ web-r2-3\s+│ web\s+│ FF-1U-R450 │ outdated\s+│ 2\.6\.0 .*quarantined", out)
    assert len(re.findall(r"│ compliant │", out)) == 23
    assert "media served:" in out

    # The emulator's own record agrees: 23 nodes got BMC, BIOS and NIC; web-r2-3 nothing.
    state = read_state(state_file)
    written = Counter(state.node_of_bmc[r["bmc"]] for r in read_audit_log(state.audit_log)
                      if r["event"] == "flash_end")
    assert set(written) == set(state.get("nodes")) - {"web-r2-3"}
    assert set(written.values()) == {3}

    # The failing node says so at once: its BMC reported the failed flash (pushed as an
    # event), and it was quarantined within QUARANTINE_WITHIN_S of the failure the
    # emulator's audit log records, not after MONITOR's timeout.
    (failing_bmc,) = [bmc for bmc, node in state.node_of_bmc.items() if node == "web-r2-3"]
    (failed,) = [datetime.fromisoformat(r["ts"]) for r in read_audit_log(state.audit_log)
                 if r["bmc"] == failing_bmc and r["event"] == "flash_failed"]
    images = GatewayStore.open(f"sqlite:///{workdir / 'gateway' / 'gateway.db'}")
    (run,) = CampaignStore(images.engine).runs_of_node("web-r2-3")
    assert run.step == "quarantined" and run.finished_at is not None
    assert (run.error or "").startswith("the BMC reported ApplyFailed"), run.error
    finished = run.finished_at.replace(tzinfo=run.finished_at.tzinfo or UTC)
    assert timedelta(0) < finished - failed <= timedelta(seconds=QUARANTINE_WITHIN_S), (
        failed, finished)

    # Torn down: nothing runs any more; logs, config and audit log stay for the user.
    assert not [name for name, pid in state.pids().items()
                if lab_processes.running(pid, MARKERS[name])]
    for kept in ("audit.jsonl", "gateway.toml", "logs/gateway.log", "logs/emulator.log"):
        assert (workdir / kept).is_file(), kept
