"""The dynamic checks, one function per scenario, each on its own emulated BMC.

- install + reapply: deliver the bundle from the cell's starting point; the
  node must end on the versions the manifest promises (a model outside the
  bundle must report "not applicable" and stay untouched); delivering it
  again must flash nothing and report every package skipped.
- downgrade: a node above every version the bundle offers must refuse it
  (no ForceUpdate is sent) and stay untouched.
- power loss / BMC restart: interrupt a flash, recover the node as an
  operator would, check it is in a known state, retry, and the retry must
  reach the promised versions.

Every finding names what was expected and what the BMC did; the cell is
named by the result's CombinationKey.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from emulator.cluster import EmulatedCluster
from emulator.faults import Fault, FaultKind
from gateway.redfish import RedfishError
from lab.topology import Combination
from lab.validate.dynamic_driver import Attempt, DriverError, NodeDriver
from lab.validate.dynamic_expect import (
    FAILURE_IDS,
    NOT_APPLICABLE,
    SKIPPED,
    SKIPPED_SAME,
    SKIPPED_TOO_LOW,
    SUCCESSFUL,
    Expectation,
    describe_change,
    version_findings,
)
from lab.validate.results import (
    CheckResult,
    CombinationKey,
    Finding,
    Severity,
    error,
    judge,
    skipped,
)

LOG = logging.getLogger(__name__)

TITLES: dict[str, str] = {
    "dynamic.install": "Installing ends on the versions the manifest promises "
                       "(a model outside the bundle: not applicable, untouched)",
    "dynamic.reapply": "Re-applying is a no-op: every package skipped, versions unchanged",
    "dynamic.downgrade": "A node newer than the bundle refuses it without ForceUpdate",
    "dynamic.power_loss": "Power lost during a flash leaves a recoverable node; a retry installs",
    "dynamic.bmc_restart": "A BMC restart during a flash leaves a recoverable node; "
                           "a retry installs",
}
REFUSALS = (SKIPPED, SKIPPED_SAME, SKIPPED_TOO_LOW, NOT_APPLICABLE)


@dataclass(frozen=True)
class Cell:
    """One matrix combination with the manifest's promise and the faults declared on it."""

    combination: Combination
    expectation: Expectation
    declared: tuple[Fault, ...] = ()

    @property
    def key(self) -> CombinationKey:
        return CombinationKey.of(self.combination)


def guarded(check: str, cell: Cell, body: Callable[[], CheckResult]) -> CheckResult:
    """Run one scenario; a BMC that misbehaves becomes a failed result, never an exception."""
    started = time.monotonic()
    try:
        return body()
    except (DriverError, RedfishError) as exc:
        message = str(exc)
    except Exception as exc:  # the report must still be written; the log keeps the trace
        LOG.exception("dynamic check %s on %s", check, cell.key.key)
        message = f"harness error: {type(exc).__name__}: {exc}"
    return judge(check, TITLES[check], [Finding(check, Severity.ERROR, message)],
                 combination=cell.key, seconds=time.monotonic() - started)


def _result(check: str, cell: Cell, findings: list[Finding], detail: str,
            started: float) -> CheckResult:
    return judge(check, TITLES[check], findings, combination=cell.key, detail=detail,
                 seconds=time.monotonic() - started)


# install + reapply ----------
def install_and_reapply(driver: NodeDriver, cell: Cell) -> list[CheckResult]:
    install = guarded("dynamic.install", cell, lambda: _install(driver, cell))
    if not cell.expectation.in_bundle:
        return [install, skipped("dynamic.reapply", TITLES["dynamic.reapply"],
                                 f"{cell.expectation.model} is in no package of the bundle: "
                                 "nothing to re-apply", combination=cell.key)]
    if install.errors:
        return [install, judge("dynamic.reapply", TITLES["dynamic.reapply"], [
            error("dynamic.reapply", "not tried: the install did not reach the promised "
                   "versions")], combination=cell.key)]
    return [install, guarded("dynamic.reapply", cell, lambda: _reapply(driver, cell))]


def _install(driver: NodeDriver, cell: Cell) -> CheckResult:
    check, started, exp = "dynamic.install", time.monotonic(), cell.expectation
    attempt = driver.deliver(cell.combination.delivery)
    got = driver.settle(exp.end)
    findings: list[Finding] = []
    if not exp.in_bundle:
        if attempt.flashed():
            findings.append(error(check, f"{exp.model} is in no package, yet the BMC flashed "
                                   f"{', '.join(attempt.flashed())} ({attempt.describe()})"))
        if attempt.task_state is not None and NOT_APPLICABLE not in attempt.message_ids:
            findings.append(error(check, "expected the BMC to report UpdateNotApplicable, "
                                   f"got {attempt.describe()}"))
        findings += version_findings(check, exp.start, got, context="must stay untouched: ")
        detail = f"not applicable, untouched ({describe_change(exp.start, got)})"
        return _result(check, cell, findings, detail, started)
    findings += [error(check, problem) for problem in exp.problems]
    findings += _attempt_failures(check, attempt, exp)
    findings += version_findings(check, exp.end, got, context="")
    if len(findings) > len(exp.problems):
        findings.append(error(check, f"what the BMC said: {attempt.describe()}"))
    return _result(check, cell, findings, describe_change(exp.start, got), started)


def _attempt_failures(check: str, attempt: Attempt, exp: Expectation) -> list[Finding]:
    findings = []
    failed = [m for m in attempt.message_ids if m in FAILURE_IDS]
    if exp.to_flash and attempt.task_state not in (None, "Completed"):
        findings.append(error(check, f"the update task ended {attempt.task_state} "
                               f"({', '.join(failed) or 'no failure message'})"))
    findings += [error(check, f"flash failed: {reason}") for reason in attempt.failures()]
    return findings


def _deliver_expecting_no_flash(
        driver: NodeDriver, cell: Cell, check: str, unchanged: Mapping[str, str],
        flashed: str) -> tuple[Attempt, dict[str, str], list[Finding]]:
    """Deliver the cell's bundle where nothing may be flashed: the attempt, the versions
    once the node settled on ``unchanged``, and an error if anything was flashed anyway
    (``flashed`` formats the components flashed and the attempt)."""
    attempt = driver.deliver(cell.combination.delivery)
    after = driver.settle(unchanged)
    findings = []
    if attempt.flashed():
        findings.append(error(check, flashed.format(", ".join(attempt.flashed()),
                                                     attempt.describe())))
    return attempt, after, findings


def _reapply(driver: NodeDriver, cell: Cell) -> CheckResult:
    check, started, exp = "dynamic.reapply", time.monotonic(), cell.expectation
    before = driver.versions()
    attempt, after, findings = _deliver_expecting_no_flash(
        driver, cell, check, before, "re-applying flashed {} again; expected a no-op ({})")
    if SUCCESSFUL in attempt.message_ids:
        findings.append(error(check, f"the BMC reported UpdateSuccessful on a re-apply "
                               f"({attempt.describe()})"))
    same = exp.same_version_packages(before)
    if attempt.task_state is not None and \
            attempt.message_ids.count(SKIPPED_SAME) < len(same):
        findings.append(error(check, f"expected UpdateSkippedSameVersion for "
                               f"{', '.join(p.id for p in same)}; got {attempt.describe()}"))
    findings += version_findings(check, before, after, context="must stay unchanged: ")
    return _result(check, cell, findings, f"no flash; {len(same)} package(s) skipped as "
                   "same version", started)


# downgrade ----------
def downgrade(driver: NodeDriver, cell: Cell, newer: Mapping[str, str]) -> CheckResult:
    return guarded("dynamic.downgrade", cell, lambda: _downgrade(driver, cell, newer))


def _downgrade(driver: NodeDriver, cell: Cell, newer: Mapping[str, str]) -> CheckResult:
    check, started = "dynamic.downgrade", time.monotonic()
    attempt, after, findings = _deliver_expecting_no_flash(
        driver, cell, check, newer, "without ForceUpdate the BMC downgraded {} ({})")
    if attempt.task_state is not None:
        if SUCCESSFUL in attempt.message_ids:
            findings.append(error(check, f"the BMC reported UpdateSuccessful for a downgrade "
                                   f"({attempt.describe()})"))
        if not any(m in REFUSALS for m in attempt.message_ids):
            findings.append(error(check, f"the BMC gave no UpdateSkipped message for the "
                                   f"older packages ({attempt.describe()})"))
    findings += version_findings(check, newer, after, context="must stay on the newer "
                                 "version: ")
    refused = ", ".join(sorted(cell.expectation.offered))
    return _result(check, cell, findings, f"refused {refused} from {describe_change(newer, after)}",
                   started)


# interruptions ----------
def interruption(driver: NodeDriver, cluster: EmulatedCluster, cell: Cell,
                 check: str) -> CheckResult:
    """check: "dynamic.power_loss" or "dynamic.bmc_restart"."""
    return guarded(check, cell, lambda: _interrupted(driver, cluster, cell, check))


def _interrupted(driver: NodeDriver, cluster: EmulatedCluster, cell: Cell,
                 check: str) -> CheckResult:
    started, exp = time.monotonic(), cell.expectation
    method = cell.combination.delivery
    mark = driver.mark()
    if check == "dynamic.power_loss":
        victim, armed = _cut_off_component(cell)
        if armed:
            # No emulator fault is a power loss: the write in progress is cut off
            # (flash_fails, once), then the host is forced off and the BMC restarts.
            cluster.faults.set(driver.bmc_id, FaultKind.FLASH_FAILS.value, component=victim,
                               count=1)
        driver.start(method)
        driver.wait_for_event(mark, lambda r: r["event"] == "flash_failed"
                              and r.get("component") == victim, f"the cut-off {victim} flash")
        if armed:
            _restore(cluster, driver.bmc_id, cell.declared)
        driver.power_off_host()
        driver.restart_bmc()
        moment = f"power lost during the {victim} flash"
    else:
        driver.start(method)
        first = driver.wait_for_event(mark, lambda r: r["event"] == "flash_start",
                                      "a flash")
        driver.restart_bmc()
        moment = f"BMC restarted during the {first.get('component', '?')} flash"
    driver.recover()
    state = driver.versions()
    findings = [error(check, f"after the interruption ({moment}) {component} reports "
                       f"{version}, neither the starting {exp.start.get(component, '-')} "
                       f"nor the bundle's {exp.offered.get(component, '-')}")
                for component, version in sorted(state.items())
                if version not in (exp.start.get(component), exp.offered.get(component))]
    retry = driver.deliver(method)
    got = driver.settle(exp.end)
    mismatches = version_findings(check, exp.end, got, context="after the retry: ")
    if mismatches:
        mismatches.append(error(check, f"the retry ({moment}, recovered on "
                                 f"{_versions(state)}): {retry.describe()}"))
    detail = (f"{moment}; recovered on {_versions(state)}; retry: "
              f"{describe_change(state, got)}")
    return _result(check, cell, findings + mismatches, detail, started)


def _cut_off_component(cell: Cell) -> tuple[str, bool]:
    """The component whose flash the power loss cuts off, and whether to arm a fault.

    A flash_fails fault declared on the cell already cuts a flash off (and
    replacing it would hide it from the retry): the power goes then. Otherwise
    the last package the node needs is cut off, so earlier ones are done and
    the node is left half-updated, the state a retry must cope with.
    """
    flashed = [pkg.component for pkg in cell.expectation.to_flash]
    for fault in cell.declared:
        if fault.kind is FaultKind.FLASH_FAILS:
            wanted = fault.params.get("component")
            if wanted is None:
                return flashed[0], False
            if wanted in flashed:
                return str(wanted), False
    return flashed[-1], True


def _restore(cluster: EmulatedCluster, bmc_id: str, declared: tuple[Fault, ...]) -> None:
    """Put back declared faults the one-shot flash_fails replaced (one fault per kind)."""
    for fault in declared:
        if fault.kind is FaultKind.FLASH_FAILS:
            cluster.bmc(bmc_id).faults.add(fault)


def _versions(versions: Mapping[str, str]) -> str:
    return ", ".join(f"{component} {version}" for component, version in sorted(versions.items()))
