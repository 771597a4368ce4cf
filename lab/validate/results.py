"""The harness's result model: findings grouped into check results, in a report.

Static checks (format, signature, hashes, manifest lint) produce results
with no combination. Dynamic checks (installing the bundle on the emulated
matrix) produce one result per check and matrix combination
(model, starting point, delivery method); both kinds go into the same
`ValidationReport`, which the JUnit and HTML writers render.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from lab.topology import Combination


class Severity(StrEnum):
    """An error fails its check (and the bundle); a warning is reported only."""

    ERROR = "error"
    WARNING = "warning"


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # could not run because an earlier check failed


@dataclass(frozen=True)
class Finding:
    """One problem: which check saw it, how bad, a sentence, and the package it concerns."""

    check: str
    severity: Severity
    message: str
    package: str | None = None


def error(check: str, message: str, package: str | None = None) -> Finding:
    """A finding that fails its check."""
    return Finding(check, Severity.ERROR, message, package)


@dataclass(frozen=True, order=True)
class CombinationKey:
    """A cell of the matrix as reports know it: plain strings, hashable, sortable."""

    model: str
    starting: str
    delivery: str

    @classmethod
    def of(cls, combination: Combination) -> CombinationKey:
        return cls(combination.model, combination.starting.name, combination.delivery.value)

    @property
    def key(self) -> str:
        """"FF-1U-R450/previous/msc" (same as Combination.key)."""
        return f"{self.model}/{self.starting}/{self.delivery}"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check (on one combination, for dynamic checks).

    `detail` says why a check was skipped, or what a passing dynamic check saw.
    `seconds` is the wall time the check took.
    """

    check: str
    title: str
    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    combination: CombinationKey | None = None
    detail: str = ""
    seconds: float = 0.0

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def name(self) -> str:
        """Unique within a report: the check id, plus the combination key for dynamic checks."""
        return self.check if self.combination is None else f"{self.check}[{self.combination.key}]"


def judge(check: str, title: str, findings: Iterable[Finding], *,
          combination: CombinationKey | None = None, detail: str = "",
          seconds: float = 0.0) -> CheckResult:
    """A result that failed if any finding is an error, passed otherwise."""
    found = tuple(findings)
    failed = any(f.severity is Severity.ERROR for f in found)
    return CheckResult(check, title, Outcome.FAILED if failed else Outcome.PASSED, found,
                       combination, detail, seconds)


def skipped(check: str, title: str, reason: str, *,
            combination: CombinationKey | None = None) -> CheckResult:
    return CheckResult(check, title, Outcome.SKIPPED, (), combination, reason)


@dataclass(frozen=True)
class ValidationReport:
    """Everything the harness found about one bundle."""

    bundle: str  # path or URL as given
    results: tuple[CheckResult, ...]
    bundle_id: str = ""
    release: str = ""
    matrix_source: str = ""
    seconds: float = 0.0
    combinations: tuple[CombinationKey, ...] = field(default=())
    personality: str = ""  # the BMC family the matrix presented ("": not chosen, dmtf)

    @property
    def passed(self) -> bool:
        """True when nothing failed (warnings and skips of optional checks aside)."""
        return not any(result.outcome is Outcome.FAILED for result in self.results)

    @property
    def static_results(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.combination is None)

    @property
    def dynamic_results(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.combination is not None)

    @property
    def dynamic_checks(self) -> tuple[str, ...]:
        """Dynamic check ids in first-seen order (the matrix table's columns)."""
        return tuple(dict.fromkeys(r.check for r in self.dynamic_results))

    def counts(self) -> dict[Outcome, int]:
        totals = dict.fromkeys(Outcome, 0)
        for result in self.results:
            totals[result.outcome] += 1
        return totals

    def result_for(self, check: str, combination: CombinationKey | None = None,
                   ) -> CheckResult | None:
        return next((r for r in self.results
                     if r.check == check and r.combination == combination), None)

    def findings(self) -> tuple[Finding, ...]:
        return tuple(finding for result in self.results for finding in result.findings)
