"""Staged activation: the STAGE step, and what the later, disruptive steps of a staged
node do differently (docs/orchestration.md, "Staged activation").

STAGE hands the image to the BMC with ``@Redfish.OperationApplyTime = OnReset`` and
``Targets`` naming only the components that activate at a host reset: the BMC writes
them, keeps the new versions as not yet active, and nothing goes down. A BMC
component (it restarts the BMC) and one that takes effect when written are not
staged: they go with the disruptive part, inside the window, like any update. So do
packages whose prerequisite has not been applied yet. The node then rests in STAGED
until the scheduler admits its reset (window, allowance, canary gate); from there
PRECHECK → DELIVER (the components not staged, if any) → RESET → WAIT_BACK → VERIFY:
versions decide, and a node whose reset never comes stays ``staged``, never ``done``.

The markers staging writes are RunProgress's ``stage_*`` fields and ``staged``
(gateway/domain/run_progress.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from firmware_payloads import Manifest, ResetKind
from gateway.domain import RunProgress
from gateway.orchestrator.context import StepContext

APPLY_ON_RESET = "OnReset"
NOTHING_STAGED_NOTE = "nothing staged"


def staged_components(progress: RunProgress) -> list[str]:
    """The components staged for this node's reset (empty for an unstaged run)."""
    return list(progress.staged or ())


def stageable(manifest: Manifest, packages: Iterable[str]) -> list[str]:
    """Components of the planned ``packages`` that can wait for a host reset: reset kind
    ``host``, and every prerequisite already installed (not itself planned), since a BMC
    refuses a package whose prerequisite it has not applied."""
    planned = set(packages)
    return sorted(pkg.component for pkg in manifest.packages
                  if pkg.id in planned and pkg.reset == ResetKind.HOST
                  and not planned.intersection(pkg.requires))


def remaining_targets(ctx: StepContext) -> dict[str, str]:
    """The node's target versions of the components that were not staged: what the
    disruptive part still has to deliver (empty: only the reset is left)."""
    staged = set(staged_components(ctx.progress))
    return {c: v for c, v in ctx.run.target_versions.items() if c not in staged}


def precheck_fields(ctx: StepContext, fields: dict[str, Any]) -> dict[str, Any]:
    """PRECHECK's findings for a staged node's disruptive part: the rest of the update
    goes the way the staging went (an update CD would write the staged components once
    more), and what staging recorded stays in the progress."""
    if not staged_components(ctx.progress):
        return fields
    method = ctx.progress.stage_method
    return {**fields, "method": method.value} if method is not None else fields
