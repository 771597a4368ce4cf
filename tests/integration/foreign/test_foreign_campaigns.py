"""Whole campaigns run by the real gateway against services this project did not write.

Each ends with the honest outcome its service allows: sushy-tools has no
FirmwareInventory, so its nodes are refused with that reason (or, where a BIOS
version is visible, updated and verified); DMTF's mockups speak vendor version
formats, which the bundle's version schemes read. No campaign ends ``completed``
with a node nobody explained.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.orchestrator.reports import CampaignReport
from gateway.service import GatewayStartError
from tests.integration.foreign.conftest import (
    TERMINAL,
    RigFactory,
    assert_honest,
    bmc_entry,
    bundle_spec,
    package,
)
from tests.integration.foreign.services import FAKE_SYSTEMS, ForeignService, free_port
from tests.integration.orchestrator.rig import wait_for

AUTO = {"autonomy": "auto_approve", "delivery": ["simple_update", "msc"]}
# The operator approves nothing here: the plan (each node's decision) is what is checked.
REVIEW = {"autonomy": "require_approval", "delivery": ["simple_update", "msc"]}
P79 = {"type": "regex", "pattern": r"P79 v(\d+)\.(\d+)", "groups": ["int", "int"]}
P86 = {"type": "regex", "pattern": r"P86 v(\d+)\.(\d+)(?: \(.*\))?", "groups": ["int", "int"]}


def explained_by(error: str | None, *words: str) -> bool:
    return all(word.lower() in (error or "").lower() for word in words)


# -- sushy-tools ------------------------------------------------------------------------------

def test_sushy_libvirt_node_is_refused_naming_the_missing_inventory_and_the_fallback(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """sushy-tools' libvirt driver shows a BIOS version (read by the fallback) but no
    Model, so no bundle can be matched to the host: the node is not touched, the reason
    says all of that, and the campaign says nothing could be done (never ``completed``).
    The service's BIOS version is unchanged."""
    service = fresh_service("sushy-libvirt")
    rig = foreign_rig(bmcs=[bmc_entry("sushy-0", service)], cluster=AUTO,
                      spec=bundle_spec("sushy-bios", [package("bios-1.1.0", "BIOS", "1.1.0",
                                                              ["FF-SUSHY"])]))
    report = rig.run(*TERMINAL)
    assert_honest(report)
    assert report.state == "failed", report.to_json()
    [node] = report.nodes
    assert node.outcome == "not_applicable", report.to_json()
    assert (node.error or "").startswith("not applicable:"), node.error
    assert explained_by(node.error, "no ComputerSystem.Model", "FirmwareInventory",
                        "ComputerSystem.BiosVersion ('1.0.0')"), node.error
    assert node.before_versions == {"BIOS": "1.0.0", "BMC": "1.00"}, report.to_json()
    system = service.members("/redfish/v1/Systems")[0]
    assert service.get(system)["BiosVersion"] == "1.0.0"


def test_sushy_fake_every_system_is_a_node_refused_with_its_reason(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    service = fresh_service("sushy-fake")
    rig = foreign_rig(bmcs=[bmc_entry("sushy", service, systems="all")], cluster=AUTO,
                      spec=bundle_spec("sushy-bmc", [package("bmc-1.01", "BMC", "1.01",
                                                             ["FF-SUSHY"])]))
    report = rig.run(*TERMINAL)
    assert_honest(report)
    assert report.state == "failed", report.to_json()
    assert sorted(n.node_id for n in report.nodes) == sorted(
        f"sushy-{s['uuid']}" for s in FAKE_SYSTEMS), report.to_json()
    for node in report.nodes:
        assert node.outcome == "not_applicable", report.to_json()
        assert explained_by(node.error, "FirmwareInventory", "BiosVersion (not reported)",
                            "Manager.FirmwareVersion ('1.00')", "no ComputerSystem.Model"), \
            node.error
        assert node.before_versions == {"BMC": "1.00"}, report.to_json()


def test_a_campaign_whose_inventories_fail_does_not_end_completed(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """What a new user does first: register sushy-tools by its bare URL (three systems
    behind it, none chosen) next to a BMC that is down. Neither can be inventoried, so
    the campaign fails, and its reason keeps the inventory's count and says why."""
    service = fresh_service("sushy-fake")
    down = {"id": "down-0", "url": f"http://127.0.0.1:{free_port()}", "username": "admin",
            "password": "password"}
    rig = foreign_rig(bmcs=[bmc_entry("sushy", service), down], cluster=AUTO,
                      spec=bundle_spec("sushy-empty", [package("bmc-1.01", "BMC", "1.01",
                                                               ["FF-SUSHY"])]))
    report = rig.run(*TERMINAL)
    assert_honest(report)
    assert (report.state, report.nodes) == ("failed", ()), report.to_json()
    assert explained_by(report.reason, "nothing could be done", "0 of 2 BMCs answered"), \
        report.reason
    # The node records keep each BMC's own reason.
    errors = {n.node_id: n.error for n in rig.service.nodes()}
    assert explained_by(errors["sushy"], f"serves {len(FAKE_SYSTEMS)} systems"), errors
    assert explained_by(errors["down-0"], "no answer"), errors


def test_sushy_systems_registered_by_path_are_one_node_each(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    service = fresh_service("sushy-fake")
    bmcs = [bmc_entry(f"sushy-{i}", service, system=uri) for i, uri
            in enumerate(service.members("/redfish/v1/Systems"))]
    rig = foreign_rig(bmcs=bmcs, cluster=AUTO,
                      spec=bundle_spec("sushy-paths", [package("bmc-1.01", "BMC", "1.01",
                                                               ["FF-SUSHY"])]))
    report = rig.run(*TERMINAL)
    assert_honest(report)
    assert report.state == "failed", report.to_json()
    assert sorted(n.node_id for n in report.nodes) == sorted(b["id"] for b in bmcs)
    for node in report.nodes:
        assert node.outcome == "not_applicable", report.to_json()
        assert explained_by(node.error, "FirmwareInventory", "FirmwareVersion"), node.error


@pytest.mark.parametrize("spelling", ["path", "id"])
def test_the_same_system_registered_twice_is_refused(
        sushy_fake: ForeignService, foreign_rig: RigFactory, spelling: str) -> None:
    """Once by path, then by path or by id: the second entry would update the same
    host at the same time; the gateway refuses to start and names the first."""
    system = sushy_fake.members("/redfish/v1/Systems")[0]
    again = system if spelling == "path" else system.rsplit("/", 1)[1]
    twice = [bmc_entry("first", sushy_fake, system=system),
             bmc_entry("second", sushy_fake, system=again)]
    with pytest.raises(GatewayStartError, match="already registered by BMC 'first'"):
        foreign_rig(bmcs=twice, cluster=AUTO,
                    spec=bundle_spec("dup", [package("bmc-1.01", "BMC", "1.01", ["X"])]))


# -- DMTF mockups -------------------------------------------------------------------------------

def rackmount_plan(fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory,
                   bundle_id: str, packages: list[dict[str, Any]]) -> CampaignReport:
    """The campaign of one DMTF public-rackmount1 node under REVIEW, as it waits for the
    operator's approval (or ends): each node's planned decision is what is checked."""
    service = fresh_service("public-rackmount1")
    rig = foreign_rig(bmcs=[bmc_entry("rack-0", service)], cluster=REVIEW,
                      spec=bundle_spec(bundle_id, packages))
    return rig.run("pending_approval", *TERMINAL)


def test_rackmount_bios_in_the_default_grammar_is_refused_quoting_the_string(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """A bundle that says nothing about how BIOS versions read cannot compare with
    ``P79 v1.45``: the node is not touched, and the reason quotes that string."""
    report = rackmount_plan(fresh_service, foreign_rig, "rack-default",
                            [package("bios-1.50", "BIOS", "1.50", ["3500"])])
    assert_honest(report)
    [node] = report.nodes
    assert node.outcome == "not_applicable", report.to_json()
    assert "'P79 v1.45'" in (node.error or ""), node.error
    assert node.before_versions["BIOS"] == "P79 v1.45"


def test_rackmount_untouched_vendor_versions_do_not_block_an_update(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """Only SS (``2.50``) is in the bundle; BIOS and BMC speak vendor formats it never
    needs to read."""
    report = rackmount_plan(fresh_service, foreign_rig, "rack-ss",
                            [package("ss-2.60", "SS", "2.60", ["3500"])])
    [node] = report.nodes
    assert (node.outcome, node.target_versions) == ("pending", {"SS": "2.60"}), \
        report.to_json()


def test_rackmount_vendor_versions_read_by_the_bundle_schemes(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """BIOS ``P79 v1.45`` < ``P79 v1.50`` by a regex scheme; BMC ``1.45.455b66-rev4``
    is the bundle's exact version already: BIOS is planned, BMC is not."""
    report = rackmount_plan(fresh_service, foreign_rig, "rack-schemes", [
        package("bios-p79-1.50", "BIOS", "P79 v1.50", ["3500"], version_scheme=P79),
        package("bmc-rev4", "BMC", "1.45.455b66-rev4", ["3500"],
                version_scheme={"type": "exact"}),
    ])
    [node] = report.nodes
    assert (node.outcome, node.target_versions) == ("pending", {"BIOS": "P79 v1.50"}), \
        report.to_json()


def test_rackmount_of_another_model_is_refused_for_its_model(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    report = rackmount_plan(fresh_service, foreign_rig, "rack-other",
                            [package("ss-2.60", "SS", "2.60", ["FF-OTHER"])])
    assert_honest(report)
    [node] = report.nodes
    assert node.outcome == "not_applicable", report.to_json()
    assert "3500" in (node.error or "") and "P79" not in (node.error or ""), node.error


def test_bladed_enclosure_gives_one_node_per_blade_with_its_bios_version(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """One node per blade, each planned from its own BIOS version in the vendor's
    spelling (read from BiosVersion: there is no UpdateService). Approved, the canary
    has no way to receive an update and fails naming that; nothing ends completed."""
    service = fresh_service("public-bladed")
    rig = foreign_rig(bmcs=[bmc_entry("enclosure", service, systems="all")], cluster=REVIEW,
                      spec=bundle_spec("blades", [package("bios-p86-1.60", "BIOS", "P86 v1.60",
                                                          ["SX1000"], version_scheme=P86)]))
    rig.announce()
    campaign = rig.campaign_id()
    report = rig.wait_state(campaign, "pending_approval", *TERMINAL)
    assert report.state == "pending_approval", report.to_json()
    assert sorted(n.node_id for n in report.nodes) == [
        f"enclosure-529QB945{i}R6" for i in range(4)], report.to_json()
    for node in report.nodes:
        assert node.model == "SX1000"
        assert node.before_versions.get("BIOS") == "P86 v1.58 (10/15/2015)", report.to_json()
        assert (node.outcome, node.target_versions) == ("pending", {"BIOS": "P86 v1.60"}), \
            report.to_json()
    rig.service.approve(campaign)
    rig.wait_state(campaign, *TERMINAL)
    # The blades behind the canary are marked skipped just after the campaign's state
    # changes (not in the same transaction): wait for that, not for a clock.
    assert wait_for(lambda: all(n.outcome != "pending" for n in rig.report(campaign).nodes),
                    30), rig.report(campaign).to_json()
    report = rig.report(campaign)
    assert_honest(report)
    assert report.state == "failed", report.to_json()
    [canary] = [n for n in report.nodes if n.canary]
    assert canary.outcome in ("failed", "quarantined"), report.to_json()
    assert explained_by(canary.error, "none of the allowed delivery methods",
                        "simple_update", "msc"), canary.error
    for node in report.nodes:
        assert node.outcome != "done" and node.after_versions in ({}, node.before_versions)


def give_cd1_media_actions(mockup: Path) -> None:
    """public-rackmount1's CD1 lists no actions, so MSC is never offered there. Most BMCs
    offer InsertMedia and EjectMedia: with them (the mockup server answers 204 to a
    listed action), what keeps the operator's CD in place is the gateway's own rule."""
    cd1 = mockup / "Systems" / "437XR1138R2" / "VirtualMedia" / "CD1" / "index.json"
    document = json.loads(cd1.read_text())
    base = document["@odata.id"]
    document["Actions"] = {
        f"#VirtualMedia.{name}": {"target": f"{base}/Actions/VirtualMedia.{name}"}
        for name in ("InsertMedia", "EjectMedia")}
    cd1.write_text(json.dumps(document))


@pytest.mark.parametrize("actions", ["as published", "with media actions"])
@pytest.mark.parametrize("delivery", [["simple_update", "msc"], ["msc"]])
def test_rackmount_operator_cd_is_never_ejected(
        fresh_service: Callable[..., ForeignService], foreign_rig: RigFactory,
        delivery: list[str], actions: str) -> None:
    """public-rackmount1's CD (CD1) holds an image the gateway did not insert. A campaign that
    plans a BIOS update there, whether it delivers by SimpleUpdate (the static mockup
    never changes a version, so the node fails and make_safe runs) or may only use MSC
    (refused at precheck: the CD is the operator's), never ejects, replaces or patches
    that CD, and does not end completed."""
    service = fresh_service("public-rackmount1", edit=None if actions == "as published"
                            else give_cd1_media_actions)
    [system] = service.members("/redfish/v1/Systems")

    def media() -> dict[str, tuple[str, bool]]:
        return {uri.rsplit("/", 1)[1]: (service.get(uri)["Image"], service.get(uri)["Inserted"])
                for uri in service.members(f"{system}/VirtualMedia")}

    operators = media()  # CD1, CD2 and Floppy1 all hold an image
    assert operators["CD1"] == ("redfish.dmtf.org/freeImages/freeOS.1.1.iso", True)
    rig = foreign_rig(bmcs=[bmc_entry("rack-0", service)],
                      cluster={"autonomy": "auto_approve", "delivery": delivery},
                      timeouts={"monitor": 5, "verify": 3},
                      spec=bundle_spec("rack-cd", [package("bios-p79-1.50", "BIOS", "P79 v1.50",
                                                           ["3500"], version_scheme=P79)]))
    report = rig.run(*TERMINAL)
    assert_honest(report)
    assert report.state == "failed", report.to_json()
    [node] = report.nodes
    assert node.outcome in ("failed", "quarantined"), report.to_json()
    if delivery == ["msc"]:
        assert explained_by(node.error, "none of the allowed delivery methods (msc)"), \
            node.error
        assert explained_by(node.error, "no VirtualMedia.InsertMedia action"
                            if actions == "as published" else "MSC cannot be used"), node.error
    else:  # SimpleUpdate accepted (204, no task), the version never moves
        assert node.method == "simple_update", report.to_json()
        assert explained_by(node.error, "monitor timed out",
                            "still behind: BIOS P79 v1.45 (want P79 v1.50)",
                            "accepted the simple_update request without naming one"), node.error
        assert "update CD" not in (node.error or ""), node.error
    # The media as the operator left them, and no request that could have changed them
    # (the mockup server logs each request line).
    assert media() == operators
    touched = [line for line in service.log.read_text(errors="replace").splitlines()
               if "/VirtualMedia" in line and ('"POST ' in line or '"PATCH ' in line)]
    assert not touched, touched
