"""MONITOR listens to what the BMC reports: a failure message for one of the node's
components fails it at once (the step timeout, set far beyond these tests' patience,
stays the last resort), whether the message was pushed as an event or found in the
BMC's logs by polling; versions decide when signals contradict; messages about a
component the campaign did not touch change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from emulator.bmc import INVENTORY_URI
from tests.integration.orchestrator.conftest import Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL, free_port
from tests.support.waiting import wait_until

SLOW = {"monitor": 600, "verify": 600, "wait_back": 600}  # only a reported failure ends them
ONE_CANARY = {"models": [TEST_MODEL] * 2, "groups": {"all": 1}}


def _events_on() -> dict[str, object]:
    return {"events_http": f"127.0.0.1:{free_port()}", "event_fallback_s": 3600}


def _failed_canary(rig: Rollout) -> str:
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "failed") == "failed"
    return rig.quarantined_canary(campaign_id).error or ""


@pytest.mark.parametrize("events", [False, True], ids=["polling the logs", "pushed events"])
def test_a_failed_update_cd_flash_quarantines_the_node_at_once(
        rollout: RolloutFactory, events: bool) -> None:
    rig = rollout(**ONE_CANARY, timeouts=SLOW,
                  orchestrator=_events_on() if events else None)
    for bmc in rig.emulated.bmcs:
        bmc.faults.set("flash_fails", component="BIOS")
    error = _failed_canary(rig)
    source = "pushed event" if events else "log entry"
    assert error.startswith(f"the BMC reported ApplyFailed ({source}): Installation of "
                            "image '<image URL>' to 'BIOS' failed."), error
    assert "timed out" not in error and "http" not in error, error
    assert "versions decide: still behind: BIOS 1.0.0 (want 1.5.0)" in error, error
    if not events:
        # The update CD's environment wrote its per-component results to the SEL.
        canary = rig.emulated.bmc(rig.service.list_campaigns()[0].canaries[0])
        sel = [e.message_id.rsplit(".", 1)[-1] for e in canary.logs.sel.entries()]
        assert "ApplyFailed" in sel and "UpdateSkipped" in sel, sel


@pytest.mark.parametrize("events", [False, True], ids=["polling the logs", "pushed events"])
def test_a_failure_read_back_waits_for_what_the_cd_run_activates(
        rollout: RolloutFactory, events: bool) -> None:
    # The CD writes the BMC and the BIOS, then fails the NIC and says so at once; the
    # BMC restarts into its new firmware, and the BIOS takes effect only at the reboot to
    # disk that ends the run, well after the failure. The node changed: partial, naming
    # what changed, as the emulator's audit log records it.
    rig = rollout(**ONE_CANARY, timeouts=SLOW, reset_seconds=1.5,
                  orchestrator=_events_on() if events else None)
    for bmc in rig.emulated.bmcs:
        bmc.faults.set("flash_fails", component="NIC")
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "failed") == "failed"
    run = rig.quarantined_canary(campaign_id)
    canary = rig.emulated.bmc(run.node_id)

    def flash_ends() -> list[dict[str, object]]:
        return [r for r in rig.audit() if r["bmc"] == canary.id and r["event"] == "flash_end"]

    wait_until(lambda: len(flash_ends()) == 2, 30)  # the ground truth, once it has all landed
    audit = [r for r in rig.audit() if r["bmc"] == canary.id]
    written = {r["component"]: r["to_version"] for r in audit if r["event"] == "flash_end"}
    (failure,) = [r for r in audit if r["event"] == "flash_failed"]
    assert failure["component"] == "NIC" and written == {"BMC": "2.0.0", "BIOS": "1.5.0"}
    # The BIOS took effect after the failure was reported (the race this is about).
    (bios,) = [r for r in audit if r["event"] == "flash_end" and r["component"] == "BIOS"]
    assert bios["ts"] > failure["ts"]
    assert run.step == "partial", (run.step, run.error)
    assert "changed BIOS 1.0.0→1.5.0, BMC 1.0.0→2.0.0" in (run.error or ""), run.error
    assert "unchanged NIC 1.0.0 (target 7.1)" in (run.error or ""), run.error
    assert run.after_versions == {**written, "NIC": "1.0.0"}
    node = rig.service.store.node(run.node_id)
    assert node is not None and dict(node.firmware) == run.after_versions


@pytest.mark.parametrize(("component", "events"), [
    ("BMC", False), ("BMC", True), ("BIOS", False)],
    ids=["BMC, polling the logs", "BMC, pushed events", "BIOS, polling the logs"])
def test_a_completed_task_contradicted_by_the_log_is_not_done(
        rollout: RolloutFactory, component: str, events: bool) -> None:
    # The BMC's task completes saying UpdateSuccessful for every component, yet the
    # activation was lost: for the BMC after its restart (seen in VERIFY, after the task
    # completed), for the BIOS at the host reset the BMC makes before completing the
    # task (seen in MONITOR, whichever the gateway read first). Its log says
    # ActivateFailed. Versions decide.
    rig = rollout(**ONE_CANARY, timeouts=SLOW, cluster={"delivery": ["simple_update"]},
                  orchestrator=_events_on() if events else None)
    for bmc in rig.emulated.bmcs:
        bmc.faults.set("version_unchanged", component=component)
    error = _failed_canary(rig)
    if component == "BMC" or error.startswith("contradictory"):
        assert error.startswith("contradictory signals: the task Completed at 100 %"), error
        assert "but the BMC reported ActivateFailed (" in error, error
    else:  # read while the task still ran: a failure reported at once, nothing contradicted
        assert error.startswith("the BMC reported ActivateFailed (log entry)"), error
    target = TARGET_VERSIONS[component]
    assert f"'{component}' failed" in error, error
    assert f"still behind: {component} 1.0.0 (want {target})" in error, error
    canary = rig.emulated.bmc(rig.service.list_campaigns()[0].canaries[0])
    assert canary.firmware.version(component) == "1.0.0"  # the emulator agrees: not done


def test_a_failure_event_for_a_component_the_campaign_did_not_touch_is_ignored(
        rollout: RolloutFactory) -> None:
    rig = rollout(**ONE_CANARY, timeouts=SLOW, orchestrator=_events_on())
    for bmc in rig.emulated.bmcs:
        bmc.faults.set("task_hangs")  # the update CD stalls: the node stays in MONITOR
    rig.announce()
    campaign_id = rig.campaign_id()
    (canary,) = rig.service.show(campaign_id).campaign.canaries
    wait_until(lambda: rig.service.store.run(campaign_id, canary).step == "monitor", 60)
    bmc = rig.emulated.bmc(canary)
    since = datetime.now(UTC)
    bmc.events.publish("Update.ApplyFailed", ("cpld.bin", "CPLD"), f"{INVENTORY_URI}/CPLD",
                       "SoftwareInventory")
    inbox = rig.orchestrator.engine.inbox
    wait_until(lambda: any(s.key == "ApplyFailed" and "CPLD" in s.args
                           for s in inbox.since(canary, since)), 30)
    for each in rig.emulated.bmcs:
        each.faults.clear("task_hangs")
    assert rig.wait_state(campaign_id, "completed", timeout=120) == "completed"
    report = rig.service.report(campaign_id)
    assert report.outcomes == {"done": 2}
    assert all(n.after_versions == TARGET_VERSIONS for n in report.nodes)


def test_events_from_a_bmc_the_gateway_did_not_subscribe_are_refused(
        rollout: RolloutFactory) -> None:
    rig = rollout(**ONE_CANARY, orchestrator=_events_on())
    orchestration = rig.gateway.orchestration
    assert orchestration is not None and orchestration.events is not None
    node = rig.emulated.inventory[0]["id"]
    real = orchestration.events.destination(node)
    forged = real.rsplit("/", 1)[0] + "/" + "0" * 64
    event = {"Events": [{"MessageId": "Update.1.3.0.ApplyFailed", "MessageArgs": ["x", "BIOS"],
                         "OriginOfCondition": {"@odata.id": f"{INVENTORY_URI}/BIOS"}}]}
    since = datetime.now(UTC)
    assert requests.post(forged, json=event, timeout=10).status_code == 401
    assert rig.orchestrator.engine.inbox.since(node, since) == ()
    assert requests.post(real, json=event, timeout=10).status_code == 204
    assert [s.key for s in rig.orchestrator.engine.inbox.since(node, since)] == ["ApplyFailed"]
