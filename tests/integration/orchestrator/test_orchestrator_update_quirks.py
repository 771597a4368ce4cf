"""The gateway updates BMCs that show the update-request and inventory quirks
(emulator/quirks.py, docs/interop.md "Vendor quirks"), through each delivery method the
quirk allows: every node ends done with its versions read back and each component
flashed exactly once, or with a refusal naming what the BMC lacks."""

from __future__ import annotations

import json

import pytest

from emulator.firmware.engine import UPDATE_TASK_NAME
from emulator.quirks import parse_quirks
from emulator.redfish.update_quirks import push_settings
from tests.integration.orchestrator.conftest import FINISHED, Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL, flash_counts
from tests.support.waiting import wait_until

TASK_METHODS = ["simple_update", "multipart_push"]
ALL_METHODS = ["msc", *TASK_METHODS]


def _start(rollout: RolloutFactory, method: str | list[str], *quirks: str) -> Rollout:
    methods = [method] if isinstance(method, str) else method
    return rollout(models=[TEST_MODEL] * 2, groups={"all": 2},
                   cluster={"delivery": methods}, quirks=parse_quirks(quirks))


def _asked(rig: Rollout, bmc_id: str) -> dict[str, object]:
    (task,) = [t for t in rig.emulated.bmc(bmc_id).tasks.all() if t.name == UPDATE_TASK_NAME]
    assert task.payload is not None
    asked: dict[str, object] = json.loads(task.payload["JsonBody"])
    return asked


@pytest.mark.parametrize("quirk", ["simpleupdate-needs-transferprotocol",
                                   "simpleupdate-needs-targets"])
def test_simple_update_sends_protocol_and_targets(rollout: RolloutFactory, quirk: str) -> None:
    rig = _start(rollout, "simple_update", quirk)
    rig.announce()
    rig.all_done_once("simple_update")
    for bmc in rig.emulated.bmcs:
        asked = _asked(rig, bmc.id)
        assert asked["TransferProtocol"] == "HTTP" and asked["Targets"], asked


def test_no_multipart_push_falls_back_to_what_is_advertised(rollout: RolloutFactory) -> None:
    rig = _start(rollout, ["multipart_push", "simple_update"], "no-multipart-push")
    rig.announce()
    rig.all_done_once("simple_update")


def test_no_multipart_push_and_nothing_else_allowed_is_refused_by_name(
        rollout: RolloutFactory) -> None:
    rig = _start(rollout, "multipart_push", "no-multipart-push")
    rig.announce()
    nodes = rig.finished_nodes().values()
    # The canary fails naming what its BMC lacks; the campaign then touches no other node.
    (canary,) = [n for n in nodes if n.canary]
    assert canary.outcome in ("failed", "quarantined"), canary
    assert "no UpdateService.MultipartHttpPushUri" in (canary.error or ""), canary.error
    assert all(n.outcome in ("failed", "quarantined", "skipped") for n in nodes), nodes
    assert not flash_counts(rig.audit())


def test_http_push_only_is_pushed_to_http_push_uri(rollout: RolloutFactory) -> None:
    """No MultipartHttpPushUri: the push goes to HttpPushUri, with the node's targets
    set first, and the settings are put back afterwards (docs/interop.md,
    "http-push-only")."""
    rig = _start(rollout, "multipart_push", "http-push-only")
    rig.announce()
    rig.all_done_once("multipart_push")
    for bmc in rig.emulated.bmcs:
        asked = _asked(rig, bmc.id)
        assert sorted(asked["HttpPushUriTargets"]) == sorted(  # type: ignore[arg-type]
            f"/redfish/v1/UpdateService/FirmwareInventory/{c}" for c in TARGET_VERSIONS)
        assert asked["ApplyTime"] == "Immediate"
        settings = push_settings(bmc)
        assert (settings.targets, settings.busy) == ([], False)


@pytest.mark.parametrize("method", TASK_METHODS)
def test_one_update_at_a_time_is_waited_for(rollout: RolloutFactory, method: str) -> None:
    """Another client's update runs when the gateway delivers: 503 + Retry-After, the
    gateway waits and delivers once it is over (and never adopts that task as its own)."""
    rig = rollout(models=[TEST_MODEL], groups={"all": 1}, cluster={"delivery": [method]},
                  quirks=parse_quirks(["one-update-at-a-time"]))
    (bmc,) = rig.emulated.bmcs
    foreign = bmc.tasks.create(UPDATE_TASK_NAME)
    foreign.start()
    rig.announce()
    campaign_id = rig.campaign_id()
    assert wait_until(lambda: any(r.step == "deliver" and r.progress.retries
                                  for r in rig.service.show(campaign_id).runs), 60)
    assert not flash_counts(rig.audit())
    foreign.complete()
    rig.all_done_once(method)


@pytest.mark.parametrize("quirk", ["transient-500-sys518", "transient-400-system-state"])
@pytest.mark.parametrize("method", TASK_METHODS)
def test_known_transient_refusals_are_retried(rollout: RolloutFactory, quirk: str,
                                              method: str) -> None:
    rig = _start(rollout, method, f"{quirk}=2")
    rig.announce()
    rig.all_done_once(method)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_version_bearing_inventory_ids(rollout: RolloutFactory, method: str) -> None:
    """Dell's Installed-<n>-<version> Ids change with the update: components are matched
    by what they are, and versions are verified through the new Ids."""
    rig = _start(rollout, method, "inventory-ids-embed-version")
    rig.announce()
    rig.all_done_once(method)
    if method != "msc":
        for bmc in rig.emulated.bmcs:
            targets = _asked(rig, bmc.id)["Targets"]
            assert isinstance(targets, list) and len(targets) == 3
            assert all("/Installed-" in t for t in targets), targets


@pytest.mark.parametrize("method", ALL_METHODS)
def test_inactive_inventory_member_is_ignored(rollout: RolloutFactory, method: str) -> None:
    rig = _start(rollout, method, "inventory-lists-staged-image")
    rig.announce()
    rig.all_done_once(method)


@pytest.mark.parametrize("method", TASK_METHODS)
def test_staged_until_host_reset_gets_its_reset(rollout: RolloutFactory, method: str) -> None:
    """The task completes at once; the gateway resets the host (its drained slot allows
    it) and only then do versions, read back, say done."""
    rig = _start(rollout, method, "staged-until-host-reset")
    rig.announce()
    rig.all_done_once(method)
    for bmc in rig.emulated.bmcs:
        activated = [r for r in rig.audit() if r["bmc"] == bmc.id
                     and r["event"] == "flash_end" and r.get("activated_by") == "host_reset"]
        assert {r["component"] for r in activated} == {"BIOS", "NIC"}, activated


@pytest.mark.parametrize("method", TASK_METHODS)
def test_silently_staged_images_get_the_host_reset(rollout: RolloutFactory,
                                                    method: str) -> None:
    """The task completes with no hint and the versions stay: the image's host-reset
    components get the one host reset the drained slot allows, then versions are read
    back (docs/interop.md, "staged-silently-until-host-reset")."""
    rig = _start(rollout, method, "staged-silently-until-host-reset")
    rig.announce()
    rig.all_done_once(method)
    for bmc in rig.emulated.bmcs:
        records = [r for r in rig.audit() if r["bmc"] == bmc.id]
        activated = [r for r in records if r["event"] == "flash_end"
                     and r.get("activated_by") == "host_reset"]
        assert {r["component"] for r in activated} == {"BIOS", "NIC"}, activated
        (task,) = [t for t in bmc.tasks.all() if t.name == UPDATE_TASK_NAME]
        said = [m["MessageId"] for m in task.to_redfish()["Messages"]]
        assert not any(m.endswith(("AwaitToActivate", "ResetRequired")) for m in said), said


def test_silent_staging_that_a_reset_does_not_activate_fails_naming_it(
        rollout: RolloutFactory) -> None:
    """The reset comes and the BIOS stays: never done, one reset, the failure names the
    BIOS still behind (here the BMC also logs the lost activation, which is quoted)."""
    rig = rollout(models=[TEST_MODEL], groups={"all": 1},
                  cluster={"delivery": ["simple_update"]},
                  quirks=parse_quirks(["staged-silently-until-host-reset"]))
    (bmc,) = rig.emulated.bmcs
    bmc.faults.set("version_unchanged", component="BIOS")
    rig.announce()
    campaign_id = rig.campaign_id()
    assert wait_until(lambda: all(r.step in (*FINISHED, "partial")
                                  for r in rig.service.show(campaign_id).runs), 120)
    (node,) = rig.service.report(campaign_id).nodes
    # What else the update changed decides between partial and quarantined.
    assert node.outcome in ("failed", "quarantined", "partial"), node
    error = node.error or ""
    assert "BIOS 1.0.0 (want 1.5.0)" in error, error
    assert bmc.firmware.installed()["BIOS"] == "1.0.0"
    resets = [r for r in rig.audit() if r["event"] == "reset" and r["component"] == "host"]
    assert len(resets) == 1, resets
    assert set(flash_counts(rig.audit()).values()) == {1}


def test_no_firmware_inventory_updates_what_it_can_verify(rollout: RolloutFactory) -> None:
    """Versions come from BiosVersion and Manager.FirmwareVersion; the NIC, which no
    such place reports, is not claimed (docs/interop.md, "no-firmware-inventory")."""
    rig = _start(rollout, "simple_update", "no-firmware-inventory")
    rig.announce()
    for node_id, node in rig.finished_nodes().items():
        assert node.outcome == "done", (node_id, node.error)
        assert node.after_versions == {"BMC": "2.0.0", "BIOS": "1.5.0"}
        assert "NIC" not in node.after_versions
    assert set(flash_counts(rig.audit()).values()) == {1}
