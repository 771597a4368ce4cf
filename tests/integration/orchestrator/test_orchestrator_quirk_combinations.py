"""Property: whatever non-contradictory set of vendor quirks a BMC shows
(emulator/quirks.py CATALOGUE; docs/interop.md, "Vendor quirks"), and whichever
delivery method the cluster allows, the gateway ends the node either ``done`` with
its versions read back (the emulator's firmware is at the targets and the API
reports what the BMC holds) or with a refusal that says why. It never claims ``done``
unverified, never writes a component twice, and leaves no media inserted and no
boot override set."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emulator.quirks import CATALOGUE, Quirks
from gateway.orchestrator.reports import NodeReport
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.conftest import Rollout, start_rollout
from tests.integration.orchestrator.rig import (
    FAST_ORCHESTRATOR,
    TARGET_VERSIONS,
    TEST_MODEL,
    flash_counts,
)
from tests.support.waiting import wait_until

METHODS = ("msc", "simple_update", "multipart_push")
FINISHED = ("done", "not_applicable", "skipped", "failed", "quarantined")
REFUSED = ("failed", "not_applicable", "quarantined")
# Transient-refusal quirks -> the MessageId their refusals carry.
TRANSIENT = {"transient-500-sys518": "SYS518",
             "transient-400-system-state": "InvalidOperationForSystemState"}
# Values kept small: each example must stay quick (seconds of 404, refusals, sessions).
VALUES = {"task-monitor-404-at-first": (0, 1), "session-limit": (1, 3),
          "transient-500-sys518": (0, 2), "transient-400-system-state": (0, 2)}


@st.composite
def quirk_sets(draw: st.DrawFn) -> Quirks:
    """A subset of the catalogue with no two quirks that contradict each other."""
    chosen: dict[str, int | None] = {}
    for name in draw(st.permutations(sorted(CATALOGUE))):
        if not draw(st.booleans()) or any(c in chosen for c in CATALOGUE[name].conflicts):
            continue
        info = CATALOGUE[name]
        low, high = VALUES.get(name, (0, 0))
        chosen[name] = None if info.value_help is None else draw(st.integers(low, high))
    return Quirks(chosen)


def _refusal_expected(quirks: Quirks, method: str, error: str) -> bool:
    """The only refusals a quirk set may cause, each naming why."""
    if method == "multipart_push" and "no-multipart-push" in quirks:
        # The BMC lacks the one delivery the cluster allows.
        return "no UpdateService.MultipartHttpPushUri" in error
    # Known-transient refusals that outlast the retry budget end the node, quoting the
    # BMC's MessageId (both quirks together can refuse four requests in a row).
    refusals = sum(quirks.value(q) for q in TRANSIENT if q in quirks)
    return (refusals >= FAST_ORCHESTRATOR["retry_attempts"]
            and any(said in error for said in TRANSIENT.values()))


def _ended(rig: Rollout) -> NodeReport:
    campaign_id = rig.campaign_id()
    assert wait_until(lambda: all(r.step in FINISHED
                                  for r in rig.service.show(campaign_id).runs), 120), \
        rig.service.report(campaign_id).to_json()
    (node,) = rig.service.report(campaign_id).nodes
    return node


def _check(rig: Rollout, quirks: Quirks, method: str) -> None:
    node = _ended(rig)
    (bmc,) = rig.emulated.bmcs
    installed = bmc.firmware.installed()
    if node.outcome == "done":
        # Without a FirmwareInventory the NIC's version is nowhere to read: not claimed.
        expected = ({k: v for k, v in TARGET_VERSIONS.items() if k != "NIC"}
                    if "no-firmware-inventory" in quirks else TARGET_VERSIONS)
        assert node.after_versions == expected, node
        assert {k: installed[k] for k in expected} == expected, installed
    else:
        assert node.outcome in REFUSED, node
        assert _refusal_expected(quirks, method, node.error or ""), node
        assert not flash_counts(rig.audit()), "a refused node was written to"
    counts = flash_counts(rig.audit())
    assert set(counts.values()) <= {1}, counts
    assert not bmc.media.inserted and bmc.media.image is None, bmc.media
    assert bmc.boot.enabled == "Disabled", bmc.boot


# Examples, with their shrinking after a failure, outlast the default per-test timeout.
@pytest.mark.timeout(600)
@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(quirks=quirk_sets(), method=st.sampled_from(METHODS))
# Found by this test: four transient refusals in a row outlast the retry budget.
@example(quirks=Quirks({"transient-500-sys518": 2, "transient-400-system-state": 2}),
         method="multipart_push")
def test_any_quirk_set_ends_verified_or_refused_by_name(
        test_keys: TestKeys, bundle_factory: BundleFactory, quirks: Quirks,
        method: str) -> None:
    # Each example gets its own rig (servers, gateway, state): nothing carries over.
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        rig = start_rollout(stack, directory, test_keys, bundle_factory,
                            models=[TEST_MODEL], groups={"all": 1},
                            cluster={"delivery": [method]}, quirks=quirks)
        rig.announce()
        _check(rig, quirks, method)
