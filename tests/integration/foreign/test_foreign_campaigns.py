"""Whole campaigns run by the real gateway against services this project did not write.

Each ends with the honest outcome its service allows: sushy-tools has no
FirmwareInventory, so its nodes are refused with that reason (or, where a BIOS
version is visible, updated and verified); DMTF's mockups speak vendor version
formats, which the bundle's version schemes read. No campaign ends ``completed``
with a node nobody explained.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

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

AUTO = {"autonomy": "auto_approve", "delivery": ["simple_update", "msc"]}
# The operator approves nothing here: the plan (each node's decision) is what is checked.
REVIEW = {"autonomy": "require_approval", "delivery": ["simple_update", "msc"]}
P79 = {"type": "regex", "pattern": r"P79 v(\d+)\.(\d+)", "groups": ["int", "int"]}
P86 = {"type": "regex", "pattern": r"P86 v(\d+)\.(\d+)(?: \(.*\))?", "groups": ["int", "int"]}


def explained_by(error: str | None, *words: str) -> bool:
    return all(word.lower() in (error or "").lower() for word in words)


# -- sushy-tools ------------------------------------------------------------------------------

def test_sushy_libvirt_node_is_refused_naming_the_missing_inventory_or_updated(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    service = fresh_service("sushy-libvirt")
    rig = foreign_rig(bmcs=[bmc_entry("sushy-0", service)], cluster=AUTO,
                      spec=bundle_spec("sushy-bios", [package("bios-1.1.0", "BIOS", "1.1.0",
                                                              ["FF-SUSHY"])]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), *TERMINAL)
    assert_honest(report)
    [node] = report.nodes
    if node.outcome == "done":  # the BIOS version it can see, updated and read back
        assert node.after_versions.get("BIOS") == "1.1.0", report.to_json()
    else:
        assert node.outcome == "not_applicable", report.to_json()
        assert explained_by(node.error, "FirmwareInventory", "BiosVersion"), node.error


def test_sushy_fake_every_system_is_a_node_refused_with_its_reason(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    service = fresh_service("sushy-fake")
    rig = foreign_rig(bmcs=[bmc_entry("sushy", service, systems="all")], cluster=AUTO,
                      spec=bundle_spec("sushy-bmc", [package("bmc-1.01", "BMC", "1.01",
                                                             ["FF-SUSHY"])]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), *TERMINAL)
    assert_honest(report)
    assert len(report.nodes) == len(FAKE_SYSTEMS), report.to_json()
    for node in report.nodes:
        assert node.outcome == "not_applicable", report.to_json()
        assert explained_by(node.error, "FirmwareInventory", "FirmwareVersion"), node.error


def test_a_campaign_whose_inventories_fail_does_not_end_completed(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """What a new user does first: register sushy-tools by its bare URL, next to a BMC
    that is down. Whatever the gateway can read, nothing is unexplained, and a
    campaign with no node ends `failed`, not `completed`."""
    service = fresh_service("sushy-fake")
    down = {"id": "down-0", "url": f"http://127.0.0.1:{free_port()}", "username": "admin",
            "password": "password"}
    rig = foreign_rig(bmcs=[bmc_entry("sushy", service), down], cluster=AUTO,
                      spec=bundle_spec("sushy-empty", [package("bmc-1.01", "BMC", "1.01",
                                                               ["FF-SUSHY"])]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), *TERMINAL)
    assert_honest(report)
    if not report.nodes:
        assert report.state == "failed", report.to_json()


def test_sushy_systems_registered_by_path_are_one_node_each(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    service = fresh_service("sushy-fake")
    bmcs = [bmc_entry(f"sushy-{i}", service, system=uri) for i, uri
            in enumerate(service.members("/redfish/v1/Systems"))]
    rig = foreign_rig(bmcs=bmcs, cluster=AUTO,
                      spec=bundle_spec("sushy-paths", [package("bmc-1.01", "BMC", "1.01",
                                                               ["FF-SUSHY"])]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), *TERMINAL)
    assert_honest(report)
    assert sorted(n.node_id for n in report.nodes) == sorted(b["id"] for b in bmcs)
    for node in report.nodes:
        assert node.outcome == "not_applicable", report.to_json()
        assert explained_by(node.error, "FirmwareInventory"), node.error


def test_the_same_system_registered_twice_is_refused(
        sushy_fake: ForeignService, foreign_rig: RigFactory) -> None:
    system = sushy_fake.members("/redfish/v1/Systems")[0]
    twice = [bmc_entry("first", sushy_fake, system=system),
             bmc_entry("second", sushy_fake, system=system)]
    with pytest.raises(GatewayStartError, match="(?i)duplicate|twice|already"):
        foreign_rig(bmcs=twice, cluster=AUTO,
                    spec=bundle_spec("dup", [package("bmc-1.01", "BMC", "1.01", ["X"])]))


# -- DMTF mockups -------------------------------------------------------------------------------

def test_rackmount_bios_in_the_default_grammar_is_refused_quoting_the_string(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """A bundle that says nothing about how BIOS versions read cannot compare with
    ``P79 v1.45``: the node is not touched, and the reason quotes that string."""
    service = fresh_service("public-rackmount1")
    rig = foreign_rig(bmcs=[bmc_entry("rack-0", service)], cluster=REVIEW,
                      spec=bundle_spec("rack-default", [package("bios-1.50", "BIOS", "1.50",
                                                                ["3500"])]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), "pending_approval", *TERMINAL)
    assert_honest(report)
    [node] = report.nodes
    assert node.outcome == "not_applicable", report.to_json()
    assert "'P79 v1.45'" in (node.error or ""), node.error
    assert node.before_versions["BIOS"] == "P79 v1.45"


def test_rackmount_untouched_vendor_versions_do_not_block_an_update(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """Only SS (``2.50``) is in the bundle; BIOS and BMC speak vendor formats it never
    needs to read."""
    service = fresh_service("public-rackmount1")
    rig = foreign_rig(bmcs=[bmc_entry("rack-0", service)], cluster=REVIEW,
                      spec=bundle_spec("rack-ss", [package("ss-2.60", "SS", "2.60", ["3500"])]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), "pending_approval", *TERMINAL)
    [node] = report.nodes
    assert (node.outcome, node.target_versions) == ("pending", {"SS": "2.60"}), \
        report.to_json()


def test_rackmount_vendor_versions_read_by_the_bundle_schemes(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    """BIOS ``P79 v1.45`` < ``P79 v1.50`` by a regex scheme; BMC ``1.45.455b66-rev4``
    is the bundle's exact version already: BIOS is planned, BMC is not."""
    service = fresh_service("public-rackmount1")
    rig = foreign_rig(bmcs=[bmc_entry("rack-0", service)], cluster=REVIEW, spec=bundle_spec(
        "rack-schemes", [
            package("bios-p79-1.50", "BIOS", "P79 v1.50", ["3500"], version_scheme=P79),
            package("bmc-rev4", "BMC", "1.45.455b66-rev4", ["3500"],
                    version_scheme={"type": "exact"}),
        ]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), "pending_approval", *TERMINAL)
    [node] = report.nodes
    assert (node.outcome, node.target_versions) == ("pending", {"BIOS": "P79 v1.50"}), \
        report.to_json()


def test_rackmount_of_another_model_is_refused_for_its_model(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    service = fresh_service("public-rackmount1")
    rig = foreign_rig(bmcs=[bmc_entry("rack-0", service)], cluster=REVIEW,
                      spec=bundle_spec("rack-other", [package("ss-2.60", "SS", "2.60",
                                                              ["FF-OTHER"])]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), "pending_approval", *TERMINAL)
    assert_honest(report)
    [node] = report.nodes
    assert node.outcome == "not_applicable", report.to_json()
    assert "3500" in (node.error or "") and "P79" not in (node.error or ""), node.error


def test_bladed_enclosure_gives_one_node_per_blade_with_its_bios_version(
        fresh_service: Callable[[str], ForeignService], foreign_rig: RigFactory) -> None:
    service = fresh_service("public-bladed")
    rig = foreign_rig(bmcs=[bmc_entry("enclosure", service, systems="all")], cluster=REVIEW,
                      spec=bundle_spec("blades", [package("bios-p86-1.60", "BIOS", "P86 v1.60",
                                                          ["SX1000"], version_scheme=P86)]))
    rig.announce()
    report = rig.wait_state(rig.campaign_id(), "pending_approval", *TERMINAL)
    assert_honest(report)
    assert len(report.nodes) == 4, report.to_json()
    for node in report.nodes:
        assert node.model == "SX1000"
        assert node.before_versions.get("BIOS") == "P86 v1.58 (10/15/2015)", report.to_json()
        # Planned from its real version, or refused for a reason it names (no
        # UpdateService to deliver with): either way a decision, never silence.
        assert node.outcome == "pending" and node.target_versions == {"BIOS": "P86 v1.60"} \
            or (node.outcome == "not_applicable" and node.error), report.to_json()
