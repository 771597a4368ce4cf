"""The BMC registry service: imports, single registrations and removals, shared by
the CLI (`fleetflash bmcs ...`) and the API (/api/bmcs).

An import is planned against the registry as it is, then applied in one
transaction that first checks nothing it planned on changed meanwhile. By default a
single bad row stops the whole import; `partial` takes the good rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import GatewayConfig
from gateway.onboarding.errors import OnboardingError
from gateway.onboarding.importers import ImportDefaults, RowProblem, read_inventory
from gateway.onboarding.plan import ImportPlan, check_entry, plan_import
from gateway.store import StoreError
from gateway.store.bmc_registry import BmcRegistry, RegistryChanges, RegistryConflictError


@dataclass(frozen=True)
class ImportOutcome:
    plan: ImportPlan
    applied: bool  # False: dry run, or refused because of problems

    def summary(self) -> str:
        verb = "" if self.applied else "would be "
        plan = self.plan
        return (f"{len(plan.added)} {verb}added, {len(plan.updated)} {verb}updated, "
                f"{len(plan.unchanged)} unchanged, {len(plan.problems)} refused")


def import_inventory(config: GatewayConfig, registry: BmcRegistry, name: str, data: bytes,
                     fmt: str, defaults: ImportDefaults, *, dry_run: bool = False,
                     partial: bool = False) -> ImportOutcome:
    """Read, check and (unless `dry_run`, or problems without `partial`) apply an
    inventory. Raises OnboardingError for a file that cannot be read at all."""
    read = read_inventory(name, data, fmt, defaults)
    try:
        current = registry.entries()
    except StoreError as exc:
        raise OnboardingError(f"cannot read the BMC registry: {exc}") from exc
    plan = plan_import(config, current, read.rows, read.problems)
    if dry_run or (plan.problems and not partial) or not plan.changes:
        return ImportOutcome(plan, applied=not (dry_run or plan.problems and not partial))
    expected: dict[str, Mapping[str, Any] | None] = {str(e["name"]): None for e in plan.added}
    expected.update({str(before["name"]): before for before, _after in plan.updated})
    _apply(registry, RegistryChanges(upserts=plan.changes, origin=f"import:{name}",
                                     expected=expected))
    return ImportOutcome(plan, applied=True)


def register(config: GatewayConfig, registry: BmcRegistry, entry: Mapping[str, Any],
             origin: str) -> None:
    """Add or replace one BMC. Raises OnboardingError saying why it is refused."""
    current = registry.entries()
    problem = check_entry(config, current, entry)
    if problem is not None:
        raise OnboardingError(f"BMC {entry.get('name')!r}: {problem}")
    before = next((e for e in current if e["name"] == entry["name"]), None)
    _apply(registry, RegistryChanges(upserts=[dict(entry)], origin=origin,
                                     expected={str(entry["name"]): before}))


def unregister(registry: BmcRegistry, name: str) -> None:
    """Remove one registered BMC. Raises OnboardingError when it is not registered."""
    current = {str(e["name"]): e for e in registry.entries()}
    if name not in current:
        raise OnboardingError(f"BMC {name!r} is not in the registry (BMCs of the config "
                              "file's [[bmcs]] are removed there)")
    _apply(registry, RegistryChanges(removals=[name], expected={name: current[name]}))


def _apply(registry: BmcRegistry, changes: RegistryChanges) -> None:
    try:
        registry.apply(changes)
    except (RegistryConflictError, StoreError) as exc:
        raise OnboardingError(str(exc)) from exc


def problems_text(problems: list[RowProblem]) -> list[str]:
    return [str(p) for p in problems]
