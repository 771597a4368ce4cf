"""Which packages of a manifest a node needs, in the order to apply them. Pure: no I/O.

Rules, per package for the node's model (see docs/bundle-format.md):

- ``not_applicable_model``: the model is not listed, or the node reports no
  version for the package's component (nothing there to update);
- ``unknown_version``: the installed version of the package's component does
  not read under the package's version scheme (the reason quotes it); only
  this package is affected, and only for a node of a listed model;
- ``skip_not_newer``: installed version >= package version (for the ``exact``
  scheme: installed version == package version);
- ``below_min_from_version``: installed version < the package's min_from_version;
- ``blocked_dependency``: a required package is neither applied in this run
  nor already satisfied on the node (installed >= its version);
- ``apply``: otherwise. With ``allow_downgrade``, a package of an ordered
  scheme whose version is strictly below the installed one is ``apply`` too
  (a rollback, by policy; ``min_from_version`` bounds upgrades only); an equal
  version stays ``skip_not_newer``.

Installed versions are read per package, with that package's scheme: a component
no package of the node's model touches is never read, so it can never block.

Applied packages come in dependency order (a package after everything it
requires), ties broken by manifest order, so the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from firmware_payloads.errors import VersionError
from firmware_payloads.manifest import Manifest, Package

Action = Literal[
    "apply", "skip_not_newer", "not_applicable_model", "below_min_from_version",
    "blocked_dependency", "unknown_version",
]


@dataclass(frozen=True)
class Decision:
    """What happens to one package on one node, and a sentence saying why."""

    package: Package
    action: Action
    reason: str


def explain_applicability(
    manifest: Manifest, model: str, installed: Mapping[str, str], *,
    allow_downgrade: bool = False,
) -> list[Decision]:
    """One Decision per package in the manifest; ``apply`` ones first, in dependency order.

    ``installed`` maps component name (e.g. "BIOS") to the node's version
    string as reported. Never raises for an unreadable installed version: that
    package's decision is ``unknown_version``.
    """
    decisions: dict[str, Decision] = {}
    for pkg in manifest.packages:
        decisions[pkg.id] = _own_decision(pkg, model, installed, allow_downgrade)

    # A dependency is satisfied when it is applied in this run or already on
    # the node. Blocking propagates, so repeat until nothing changes.
    changed = True
    while changed:
        changed = False
        for pkg in manifest.packages:
            if decisions[pkg.id].action != "apply":
                continue
            for dep_id in pkg.requires:
                dep = decisions[dep_id]
                if dep.action not in ("apply", "skip_not_newer"):
                    decisions[pkg.id] = Decision(
                        pkg, "blocked_dependency",
                        f"requires {dep_id}, which cannot be applied ({dep.action})",
                    )
                    changed = True
                    break

    ordered = _dependency_order(
        [pkg for pkg in manifest.packages if decisions[pkg.id].action == "apply"]
    )
    rest = [decisions[pkg.id] for pkg in manifest.packages if decisions[pkg.id].action != "apply"]
    return [decisions[pkg.id] for pkg in ordered] + rest


def applicable_packages(
    manifest: Manifest, model: str, installed: Mapping[str, str]
) -> list[Package]:
    """The packages to apply on a node of ``model``, dependencies first (see module doc)."""
    return [d.package for d in explain_applicability(manifest, model, installed)
            if d.action == "apply"]


def is_downgrade(pkg: Package, installed: Mapping[str, str]) -> bool:
    """True when applying ``pkg`` would lower its component's installed version."""
    have = installed.get(pkg.component)
    scheme = pkg.version_scheme
    if have is None or not scheme.ordered:
        return False
    try:
        return scheme.at_least(have, pkg.version) and not scheme.at_least(pkg.version, have)
    except VersionError:
        return False


def _own_decision(pkg: Package, model: str, installed: Mapping[str, str],
                  allow_downgrade: bool = False) -> Decision:
    if model not in pkg.models:
        return Decision(pkg, "not_applicable_model", f"not built for model {model}")
    have = installed.get(pkg.component)
    if have is None:
        return Decision(pkg, "not_applicable_model", f"node reports no {pkg.component} version")
    scheme = pkg.version_scheme
    try:
        scheme.key(have)
    except VersionError as exc:
        return Decision(pkg, "unknown_version",
                        f"installed {pkg.component} version {have!r} cannot be read as a "
                        f"{scheme.describe()} ({exc})")
    if allow_downgrade and is_downgrade(pkg, installed):
        return Decision(pkg, "apply", f"{pkg.component} {have} -> {pkg.version} (downgrade)")
    if scheme.at_least(have, pkg.version):
        relation = "is" if not scheme.ordered else "is at or above"
        return Decision(pkg, "skip_not_newer", f"{pkg.component} {have} {relation} {pkg.version}")
    if pkg.min_from_version is not None and not scheme.at_least(have, pkg.min_from_version):
        return Decision(
            pkg, "below_min_from_version",
            f"{pkg.component} {have} is below the minimum {pkg.min_from_version} to update from",
        )
    return Decision(pkg, "apply", f"{pkg.component} {have} -> {pkg.version}")


def _dependency_order(packages: list[Package]) -> list[Package]:
    """Kahn's topological sort; among ready packages the earliest in the manifest goes first."""
    chosen = {pkg.id for pkg in packages}
    waiting = {pkg.id: {d for d in pkg.requires if d in chosen} for pkg in packages}
    ordered: list[Package] = []
    remaining = list(packages)
    while remaining:
        ready = next(pkg for pkg in remaining if not waiting[pkg.id])
        ordered.append(ready)
        remaining.remove(ready)
        for deps in waiting.values():
            deps.discard(ready.id)
    return ordered
