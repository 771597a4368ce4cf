"""What a bundle promises a matrix node, from `firmware_payloads` applicability. Pure: no I/O.

For one model at one starting point, `expect` says which packages the
node must flash (in dependency order), the versions it must end on, and
which of the model's packages the node will refuse and why. A refusal
caused by the bundle itself (a version older than the one installed, a
starting point below a package's min_from_version, a blocked dependency)
is a finding: every matrix starting point is one the bundle must accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from firmware_payloads import (
    Decision,
    Manifest,
    Package,
    VersionError,
    explain_applicability,
    parse_version,
)
from lab.validate.results import Finding, Severity

# Update registry message ids, as the emulated BMCs (and real ones) send them.
SKIPPED_SAME = "UpdateSkippedSameVersion"
SKIPPED = "UpdateSkipped"
SKIPPED_TOO_LOW = "UpdateSkippedVersionTooLow"
NOT_APPLICABLE = "UpdateNotApplicable"
SUCCESSFUL = "UpdateSuccessful"
FAILURE_IDS = ("TransferFailed", "VerificationFailed", "ApplyFailed")


@dataclass(frozen=True)
class Expectation:
    """The manifest's promise to one node.

    `start`: component -> version before the update. `to_flash`: packages
    the node must flash, dependency order. `end`: component -> version the
    node must report afterwards. `offered`: component -> the version this
    model's package brings. `problems`: refusals the bundle causes.
    """

    model: str
    start: Mapping[str, str]
    to_flash: tuple[Package, ...]
    end: Mapping[str, str]
    offered: Mapping[str, str]
    decisions: tuple[Decision, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def in_bundle(self) -> bool:
        """False for a model no package names: it must report "not applicable"."""
        return bool(self.offered)

    def same_version_packages(self, installed: Mapping[str, str]) -> tuple[Package, ...]:
        """This model's packages whose version equals what `installed` runs."""
        return tuple(d.package for d in self.decisions
                     if d.package.component in installed
                     and self.model in d.package.models
                     and _equal(installed[d.package.component], d.package.version))


def expect(manifest: Manifest, model: str, start: Mapping[str, str]) -> Expectation:
    """The promise of `manifest` to a `model` node running `start`.

    Raises VersionError if a starting version does not parse (the matrix
    loader already refuses those).
    """
    decisions = tuple(explain_applicability(manifest, model, start))
    to_flash = tuple(d.package for d in decisions if d.action == "apply")
    end = dict(start)
    for pkg in to_flash:
        end[pkg.component] = pkg.version
    offered = {pkg.component: pkg.version for pkg in manifest.packages_for_model(model)}
    problems = []
    for decision in decisions:
        pkg = decision.package
        have = start.get(pkg.component)
        if decision.action == "skip_not_newer" and have is not None \
                and pkg.version_scheme.compare(have, pkg.version) > 0:
            problems.append(f"version regression: package '{pkg.id}' brings {pkg.component} "
                            f"{pkg.version}, lower than the {have} installed; the node refuses "
                            "it and stays on the newer version")
        elif decision.action == "below_min_from_version":
            problems.append(f"package '{pkg.id}' cannot update this starting point: "
                            f"{pkg.component} {have} is below its min_from_version "
                            f"{pkg.min_from_version}")
        elif decision.action == "blocked_dependency":
            problems.append(f"package '{pkg.id}' is blocked: {decision.reason}")
    return Expectation(model, dict(start), to_flash, end, offered, decisions, tuple(problems))


def newer_than_bundle(expectation: Expectation) -> dict[str, str]:
    """Starting firmware above every version the bundle offers this model (downgrade test).

    Each offered component gets the offered version's first number plus one
    ("2.10.3" -> "3.0.0"), so every package would be a downgrade.
    """
    firmware = dict(expectation.start)
    for component, version in expectation.offered.items():
        head = version.split(".", 1)[0]
        digits = "".join(ch for ch in head if ch.isdigit()) or "0"
        firmware[component] = f"{int(digits) + 1}.0.0"
    return firmware


def version_findings(check: str, expected: Mapping[str, str], got: Mapping[str, str],
                     *, context: str = "") -> list[Finding]:
    """One error per component whose reported version differs from `expected`."""
    findings = []
    for component in sorted(expected):
        want, have = expected[component], got.get(component)
        if have is None or not _equal(have, want):
            shown = "nothing" if have is None else have
            findings.append(Finding(check, Severity.ERROR,
                                    f"{context}{component}: expected {want}, got {shown}"))
    return findings


def describe_change(start: Mapping[str, str], end: Mapping[str, str]) -> str:
    """"BMC 2.8.1 -> 2.10.3, NIC 22.21.0 (unchanged)" for result details."""
    parts = []
    for component in sorted(set(start) | set(end)):
        before, after = start.get(component, "-"), end.get(component, "-")
        parts.append(f"{component} {before} -> {after}" if before != after
                     else f"{component} {after} (unchanged)")
    return ", ".join(parts)


def short_id(message_id: str) -> str:
    """"Update.1.3.0.ApplyFailed" -> "ApplyFailed"."""
    return message_id.rsplit(".", 1)[-1]


def _equal(left: str, right: str) -> bool:
    try:
        return parse_version(left) == parse_version(right)
    except VersionError:
        return left == right
