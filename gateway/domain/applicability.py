"""From firmware_payloads' per-package decisions to the planner's NodeTarget.

The executor calls ``firmware_payloads.explain_applicability(manifest, model,
installed)`` and hands the decisions here; this module only reads them
(through the small protocols below), so the domain imports nothing that does
I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from gateway.domain.planner import Applicability, NodeTarget


class PackageFacts(Protocol):
    """The fields of firmware_payloads.Package this module reads."""

    @property
    def id(self) -> str: ...

    @property
    def component(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def reset(self) -> str: ...


class DecisionFacts(Protocol):
    """The fields of firmware_payloads.Decision this module reads."""

    @property
    def package(self) -> PackageFacts: ...

    @property
    def action(self) -> str: ...

    @property
    def reason(self) -> str: ...


def target_from_decisions(model: str, decisions: Sequence[DecisionFacts]) -> NodeTarget:
    """UPDATE when some package applies (ids in apply order, expected versions, resets);
    UP_TO_DATE when every package for the model is already installed or older;
    NOT_APPLICABLE otherwise (no package for the model, or none can be applied from the
    installed versions), with the reasons in ``reason``."""
    applied = [d for d in decisions if d.action == "apply"]
    if applied:
        return NodeTarget(
            model, Applicability.UPDATE,
            packages=tuple(d.package.id for d in applied),
            expected=tuple(sorted((d.package.component, d.package.version) for d in applied)),
            resets=tuple(sorted({str(d.package.reset) for d in applied} - {"none"})),
        )
    for_model = [d for d in decisions if d.action != "not_applicable_model"]
    if not for_model:
        return NodeTarget(model, Applicability.NOT_APPLICABLE,
                          reason=f"the image has no package for model {model}")
    if all(d.action == "skip_not_newer" for d in for_model):
        return NodeTarget(model, Applicability.UP_TO_DATE,
                          reason="every component is at or above the image's version")
    blocked = "; ".join(f"{d.package.id}: {d.reason}" for d in for_model
                        if d.action != "skip_not_newer")
    return NodeTarget(model, Applicability.NOT_APPLICABLE, reason=blocked)


def version_mismatches(expected: Sequence[tuple[str, str]],
                       installed: Mapping[str, str]) -> list[str]:
    """What VERIFY reports: one line per component not at its expected version
    (empty = verified). Versions are compared as the BMC reports them."""
    return [
        f"{component}: expected {version}, found {installed.get(component, 'nothing')}"
        for component, version in expected
        if installed.get(component) != version
    ]
