"""Dynamic checks: install the bundle on the emulated matrix (docs/validation.md).

One emulator process (an in-process `EmulatedCluster`) holds every BMC the
run needs, and the gateway's media server serves the bundle on loopback.
Each cell of the matrix (model x starting point x delivery) gets up to
four BMCs, one per scenario, so scenarios never disturb each other:
install then reapply; downgrade; power loss; BMC restart. Scenarios run
in parallel on a thread pool of `jobs` workers. See docs/validation.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emulator.cluster import EmulatedCluster
from emulator.config import ClusterConfig, NodeSpec
from emulator.errors import EmulatorError
from firmware_payloads import Manifest
from lab.ports import PortError, free_port_block
from lab.topology import EmulatorTimings, Matrix
from lab.validate.dynamic_checks import (
    TITLES,
    Cell,
    downgrade,
    install_and_reapply,
    interruption,
)
from lab.validate.dynamic_driver import NodeDriver
from lab.validate.dynamic_expect import expect, newer_than_bundle
from lab.validate.dynamic_faults import CellFault, faults_for
from lab.validate.dynamic_serve import BundleServer
from lab.validate.errors import ValidateError
from lab.validate.results import CheckResult, CombinationKey, Finding, Severity, judge, skipped

LOG = logging.getLogger(__name__)

DYNAMIC_CHECKS: tuple[str, ...] = tuple(TITLES)
# Scenarios that take longest go first, so the pool does not end on a straggler.
_ROLE_ORDER = ("dynamic.power_loss", "dynamic.bmc_restart", "dynamic.install",
               "dynamic.downgrade")


@dataclass(frozen=True)
class _Unit:
    """One scenario on one BMC: `role` is its first check id; `firmware` the BMC's start."""

    cell: Cell
    role: str
    firmware: dict[str, str]


class MatrixChecks:
    """The `DynamicChecks` of lab.validate.harness, on an emulated matrix.

    trusted_keys: the keys the emulated BMCs accept bundles from (the
    harness's). jobs: scenarios run at once (>= 1). timings: the emulator's
    flash/reset/restart seconds (the matrix file's `emulator:` section).
    faults: declared per-cell faults (dynamic_faults). timeout_s: the most a
    single step (a task, a restart, a reboot) may take before it fails.
    on_result: called (from worker threads) with each result as it is ready.
    personality: the BMC family every emulated BMC presents (emulator/personalities.py;
    None: dmtf), so a bundle is proven against that family's quirks.
    """

    checks: Sequence[tuple[str, str]] = tuple(TITLES.items())

    def __init__(self, trusted_keys: Sequence[Ed25519PublicKey], *, jobs: int = 4,
                 timings: EmulatorTimings | None = None, faults: tuple[CellFault, ...] = (),
                 timeout_s: float = 60.0,
                 on_result: Callable[[CheckResult], None] | None = None,
                 personality: str | None = None) -> None:
        if jobs < 1:
            raise ValidateError(f"jobs must be at least 1, got {jobs}")
        self.trusted_keys = list(trusted_keys)
        self.jobs = jobs
        self.timings = timings or EmulatorTimings(0.2, 0.1, 0.3)
        self.faults = faults
        self.timeout_s = timeout_s
        self.on_result = on_result
        self.personality = personality
        self.bmcs_started = 0  # after run(): emulated BMCs the matrix needed
        self.bytes_served = 0  # after run(): bundle bytes the media server sent
        self.manufacturers: tuple[str, ...] = ()  # after run(): what the BMCs presented

    def run(self, bundle: str, manifest: Manifest, matrix: Matrix) -> list[CheckResult]:
        """Results for every check x combination, in matrix order.

        Raises ValidateError only when the harness itself cannot run (the
        emulator or the media server does not start).
        """
        cells = [Cell(c, expect(manifest, c.model, c.starting.firmware),
                      faults_for(self.faults, c)) for c in matrix.combinations()]
        path = Path(bundle)
        if "://" in bundle or not path.is_file():
            reason = (f"{bundle}: dynamic checks install a local image file; download it "
                      "first")
            return [judge(check, title, [Finding(check, Severity.ERROR, reason)],
                          combination=cell.key) for cell in cells for check, title in self.checks]
        units, results = self._plan(cells)
        self.bmcs_started = len(units)
        with BundleServer(path) as server:
            cluster = self._start_cluster(units)
            self.manufacturers = tuple(sorted({bmc.manufacturer for bmc in cluster.bmcs}))
            try:
                with ThreadPoolExecutor(max_workers=self.jobs,
                                        thread_name_prefix="validate") as pool:
                    futures = [pool.submit(self._run_unit, cluster, index, unit, server)
                               for index, unit in enumerate(units)]
                    for future in futures:
                        results.extend(future.result())
            finally:
                cluster.stop()
                self.bytes_served = server.bytes_served
        order = {cell.key: index for index, cell in enumerate(cells)}
        rank = {check: index for index, check in enumerate(DYNAMIC_CHECKS)}
        return sorted(results, key=lambda r: (order[_key(r)], rank[r.check]))

    def _plan(self, cells: list[Cell]) -> tuple[list[_Unit], list[CheckResult]]:
        """The BMCs to start, and the results that need none (skips)."""
        units: list[_Unit] = []
        results: list[CheckResult] = []
        for cell in cells:
            exp = cell.expectation
            start = dict(exp.start)
            units.append(_Unit(cell, "dynamic.install", start))
            if not exp.in_bundle:
                reason = f"{exp.model} is in no package of the bundle: nothing to flash"
                results += [self._skip(check, reason, cell) for check in DYNAMIC_CHECKS[2:]]
                continue
            units.append(_Unit(cell, "dynamic.downgrade", newer_than_bundle(exp)))
            for check in ("dynamic.power_loss", "dynamic.bmc_restart"):
                if exp.to_flash:
                    units.append(_Unit(cell, check, start))
                else:
                    results.append(self._skip(check, "nothing to flash from this starting "
                                              "point", cell))
        units.sort(key=lambda unit: _ROLE_ORDER.index(unit.role))
        return units, results

    def _skip(self, check: str, reason: str, cell: Cell) -> CheckResult:
        result = skipped(check, TITLES[check], reason, combination=cell.key)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _start_cluster(self, units: list[_Unit]) -> EmulatedCluster:
        """Start the emulator on a block of free ports below the ephemeral range.

        A restarting BMC closes its port and opens it again; a port the kernel
        picked (bind to 0) is in the ephemeral range, where an outgoing
        connection may take it meanwhile, and the BMC would never come back.
        """
        problem = "no free block of ports"
        for _attempt in range(8):
            try:
                base = free_port_block(len(units))
            except PortError as exc:
                raise ValidateError(str(exc)) from exc
            try:
                return EmulatedCluster(self._config(units, base)).start()
            except EmulatorError as exc:  # a port was taken since we looked: try another block
                problem = str(exc)
        raise ValidateError(f"the emulated matrix did not start: {problem}")

    def _config(self, units: list[_Unit], base_port: int) -> ClusterConfig:
        return ClusterConfig(
            base_port=base_port,
            nodes=[NodeSpec(model=unit.cell.combination.model, firmware=unit.firmware,
                            faults=unit.cell.declared, personality=self.personality)
                   for unit in units],
            trusted_keys=self.trusted_keys,
            flash_seconds=self.timings.flash_seconds,
            reset_seconds=self.timings.reset_seconds,
            bmc_restart_seconds=self.timings.bmc_restart_seconds,
            # Every job may hold a request; a few more serve the BMCs' own work.
            worker_threads=max(4, self.jobs + 2),
        )

    def _run_unit(self, cluster: EmulatedCluster, index: int, unit: _Unit,
                  server: BundleServer) -> list[CheckResult]:
        driver = NodeDriver(cluster, index, server, self.timings, self.timeout_s)
        try:
            if unit.role == "dynamic.install":
                results = install_and_reapply(driver, unit.cell)
            elif unit.role == "dynamic.downgrade":
                results = [downgrade(driver, unit.cell, unit.firmware)]
            else:
                results = [interruption(driver, cluster, unit.cell, unit.role)]
        finally:
            driver.close()
        for result in results:
            LOG.debug("%s: %s", result.name, result.outcome)
            if self.on_result is not None:
                self.on_result(result)
        return results


def _key(result: CheckResult) -> CombinationKey:
    assert result.combination is not None
    return result.combination
