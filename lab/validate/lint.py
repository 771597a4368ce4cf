"""Manifest lint: what a vendor gets wrong, each with its own check and message.

The lint reads the decoded manifest JSON, not a `Manifest`, on purpose:
`Manifest.from_json` stops at the first cross-reference problem with one
error, while a vendor needs every problem named, each against its package.
(`manifest.schema` in static.py still reports what the library refuses,
because that is what gateways and BMCs will refuse.)

Reset rule (docs/validation.md): a BMC package must declare reset "bmc"
(the BMC restarts into the new image); a BIOS package "host" (the image
loads at the next host boot); a NIC package "host" or "none" (some
adapters activate live). Any other component may use "host" or "none";
"bmc" on them is a warning, since only BMC firmware restarts the BMC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from firmware_payloads import DEFAULT_SCHEME, ManifestError, VersionError, VersionScheme
from firmware_payloads.schemes import scheme_of
from lab.topology import Matrix
from lab.validate.results import CheckResult, Finding, Severity, error, judge, skipped

TITLES: dict[str, str] = {
    "lint.versions_parse": "Every version and min_from_version parses",
    "lint.version_above_min_from": "Each package's version is above its min_from_version",
    "lint.models_in_matrix": "Every model a package names is in the validation matrix",
    "lint.dependencies_resolve": "Every required package exists and covers the same models",
    "lint.dependency_cycles": "Package dependencies have no cycles",
    "lint.reset_consistent": "Each package's reset fits its component",
    "lint.unique_component_model": "No two packages update the same component on a model",
    "matrix.version_regression": "No package is older than a version the matrix has installed",
}

RESET_RULES: dict[str, tuple[str, ...]] = {
    "BMC": ("bmc",),
    "BIOS": ("host",),
    "NIC": ("host", "none"),
}
OTHER_COMPONENT_RESETS = ("host", "none")


@dataclass(frozen=True)
class RawPackage:
    """A manifest package as decoded, with every field coerced defensively."""

    id: str
    component: str
    version: str
    min_from_version: str | None
    models: tuple[str, ...]
    requires: tuple[str, ...]
    reset: str
    scheme: VersionScheme = DEFAULT_SCHEME  # its version_scheme (default when unusable)


def raw_packages(document: Mapping[str, Any]) -> list[RawPackage]:
    """The packages of a decoded manifest; malformed fields become empty values."""
    packages = document.get("packages")
    if not isinstance(packages, list):
        return []
    result = []
    for index, raw in enumerate(packages):
        if not isinstance(raw, Mapping):
            continue
        min_from = raw.get("min_from_version")
        result.append(RawPackage(
            id=str(raw.get("id", f"#{index}")),
            component=str(raw.get("component", "")),
            version=str(raw.get("version", "")),
            min_from_version=None if min_from is None else str(min_from),
            models=_strings(raw.get("models")),
            requires=_strings(raw.get("requires")),
            reset=str(raw.get("reset", "")),
            scheme=_scheme(raw),
        ))
    return result


def _scheme(raw: Mapping[str, Any]) -> VersionScheme:
    try:
        return scheme_of(raw.get("version_scheme"), "version_scheme")
    except ManifestError:
        return DEFAULT_SCHEME  # the manifest check reports it


def _newer(scheme: VersionScheme, left: str, right: str) -> bool:
    """``left`` is above ``right`` under ``scheme`` (False when it has no order)."""
    return scheme.ordered and scheme.compare(left, right) > 0


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def lint_manifest(document: Mapping[str, Any], matrix: Matrix | None,
                  matrix_source: str = "the matrix") -> list[CheckResult]:
    """Run every lint check on a decoded manifest; one CheckResult per check id.

    Without a matrix, the two matrix checks are skipped.
    """
    packages = raw_packages(document)

    def check(check_id: str, findings: Iterable[Finding]) -> CheckResult:
        return judge(check_id, TITLES[check_id], findings)

    def with_matrix(check_id: str,
                    findings: Callable[[Matrix], Iterable[Finding]]) -> CheckResult:
        if matrix is None:
            return skipped(check_id, TITLES[check_id], "no matrix given")
        return check(check_id, findings(matrix))

    return [
        check("lint.versions_parse", _versions_parse(packages)),
        check("lint.version_above_min_from", _above_min_from(packages)),
        with_matrix("lint.models_in_matrix",
                    lambda m: _models_in_matrix(packages, m, matrix_source)),
        check("lint.dependencies_resolve", _dependencies_resolve(packages)),
        check("lint.dependency_cycles", _dependency_cycles(packages)),
        check("lint.reset_consistent", _reset_consistent(packages)),
        check("lint.unique_component_model", _unique_component_model(packages)),
        with_matrix("matrix.version_regression", lambda m: _version_regressions(packages, m)),
    ]


def _parses(text: str | None, scheme: VersionScheme = DEFAULT_SCHEME) -> bool:
    if text is None:
        return False
    try:
        scheme.key(text)
    except VersionError:
        return False
    return True


def _versions_parse(packages: Sequence[RawPackage]) -> list[Finding]:
    findings = []
    for pkg in packages:
        for name, text in (("version", pkg.version), ("min_from_version", pkg.min_from_version)):
            if text is not None and not _parses(text, pkg.scheme):
                expected = ("a version (dotted numbers with an optional build suffix, e.g. "
                            "2.10.3 or 1.4.0-b17)" if pkg.scheme == DEFAULT_SCHEME
                            else f"a {pkg.scheme.describe()}")
                findings.append(error(
                    "lint.versions_parse",
                    f"package '{pkg.id}': {name} '{text}' is not {expected}", pkg.id))
    return findings


def _above_min_from(packages: Sequence[RawPackage]) -> list[Finding]:
    findings = []
    for pkg in packages:
        if pkg.min_from_version is None or not _parses(pkg.version, pkg.scheme) \
                or not _parses(pkg.min_from_version, pkg.scheme) or not pkg.scheme.ordered:
            continue
        if not _newer(pkg.scheme, pkg.version, pkg.min_from_version):
            findings.append(error(
                "lint.version_above_min_from",
                f"package '{pkg.id}': version {pkg.version} is not above its min_from_version "
                f"{pkg.min_from_version}, so no node could ever take it", pkg.id))
    return findings


def _models_in_matrix(packages: Sequence[RawPackage], matrix: Matrix,
                      matrix_source: str) -> list[Finding]:
    known = set(matrix.model_names)
    findings = []
    for pkg in packages:
        for model in pkg.models:
            if model not in known:
                findings.append(error(
                    "lint.models_in_matrix",
                    f"package '{pkg.id}' names model '{model}', which is not in "
                    f"{matrix_source} (known models: {', '.join(sorted(known))})", pkg.id))
    return findings


def _dependencies_resolve(packages: Sequence[RawPackage]) -> list[Finding]:
    by_id = {pkg.id: pkg for pkg in packages}
    findings = []
    for pkg in packages:
        for dep_id in pkg.requires:
            dep = by_id.get(dep_id)
            if dep is None:
                findings.append(error(
                    "lint.dependencies_resolve",
                    f"package '{pkg.id}' requires '{dep_id}', which is not in the bundle",
                    pkg.id))
            elif dep_id != pkg.id:
                uncovered = sorted(set(pkg.models) - set(dep.models))
                if uncovered:
                    findings.append(error(
                        "lint.dependencies_resolve",
                        f"package '{pkg.id}' requires '{dep_id}', which does not cover "
                        f"model(s) {', '.join(uncovered)}", pkg.id))
    return findings


def _dependency_cycles(packages: Sequence[RawPackage]) -> list[Finding]:
    """Each distinct cycle once, named from its smallest package id."""
    graph = {pkg.id: [dep for dep in pkg.requires] for pkg in packages}
    cycles: set[tuple[str, ...]] = set()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, []):
            if dep not in graph:
                continue  # a missing dependency is lint.dependencies_resolve's finding
            if state.get(dep) == 1:
                loop = path[path.index(dep):]
                start = loop.index(min(loop))
                cycles.add(tuple(loop[start:] + loop[:start]))
            elif state.get(dep) is None:
                visit(dep, path)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    return [error("lint.dependency_cycles",
                  f"dependency cycle: {' -> '.join((*cycle, cycle[0]))} "
                  "(no order can install these packages)", cycle[0])
            for cycle in sorted(cycles)]


def _reset_consistent(packages: Sequence[RawPackage]) -> list[Finding]:
    findings = []
    for pkg in packages:
        allowed = RESET_RULES.get(pkg.component.upper())
        if allowed is not None and pkg.reset not in allowed:
            findings.append(error(
                "lint.reset_consistent",
                f"package '{pkg.id}' updates {pkg.component} but declares reset '{pkg.reset}'; "
                f"{pkg.component} needs reset {' or '.join(repr(r) for r in allowed)}", pkg.id))
        elif allowed is None and pkg.reset not in OTHER_COMPONENT_RESETS:
            findings.append(Finding(
                "lint.reset_consistent", Severity.WARNING,
                f"package '{pkg.id}' updates {pkg.component} but declares reset '{pkg.reset}'; "
                "only BMC firmware restarts the BMC, expected 'host' or 'none'", pkg.id))
    return findings


def _unique_component_model(packages: Sequence[RawPackage]) -> list[Finding]:
    owner: dict[tuple[str, str], str] = {}
    findings = []
    for pkg in packages:
        for model in pkg.models:
            first = owner.setdefault((pkg.component, model), pkg.id)
            if first != pkg.id:
                findings.append(error(
                    "lint.unique_component_model",
                    f"packages '{first}' and '{pkg.id}' both update {pkg.component} on "
                    f"{model}", pkg.id))
    return findings


def _version_regressions(packages: Sequence[RawPackage], matrix: Matrix) -> list[Finding]:
    """A package older than what a matrix start already runs would roll that fleet back."""
    findings = []
    for pkg in packages:
        if not _parses(pkg.version, pkg.scheme):
            continue
        for entry in matrix.models:
            if entry.model not in pkg.models:
                continue
            for start in entry.starting:
                installed = start.firmware.get(pkg.component)
                if installed is not None and _parses(installed, pkg.scheme) \
                        and _newer(pkg.scheme, installed, pkg.version):
                    findings.append(error(
                        "matrix.version_regression",
                        f"package '{pkg.id}' brings {pkg.component} {pkg.version}, lower than "
                        f"the {installed} already installed on {entry.model} "
                        f"'{start.name}': a version regression", pkg.id))
    return findings
