"""The per-node state machine of a campaign.

A node walks PENDING → PRECHECK → DRAIN → DELIVER → MONITOR → RESET →
WAIT_BACK → VERIFY → EJECT → POSTCHECK → UNDRAIN → DONE. In a staged campaign
(docs/orchestration.md, "Staged activation") it first walks PENDING → STAGE →
STAGED: the image is handed to the BMC to activate at the next host reset,
which takes no host down; STAGED → PRECHECK is then the disruptive part, admitted
inside maintenance windows and within the allowance like any update. A step with nothing to
do (no drain hook, no reset required, no task to monitor) may be jumped over,
but never VERIFY (versions decide success, not a task's word) nor POSTCHECK
(health decides that the node may rejoin). Any active step may fail: the node
goes to FAILED, where the executor makes it safe (ejects media, clears a boot
override) and reads its versions back, then to QUARANTINED, or to PARTIAL when
only some of the planned components changed; either waits for an operator to
retry or clear it. Every transition returns a new NodeRun, so the executor persists
the new state before it acts on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from gateway.domain.cluster import Health
from gateway.domain.errors import IllegalTransitionError


class NodeStep(StrEnum):
    PENDING = "pending"
    STAGE = "stage"  # staged activation: handing over the image to apply OnReset
    STAGED = "staged"  # waits for its reset (inside a window); not done: versions unchanged
    PRECHECK = "precheck"
    DRAIN = "drain"
    DELIVER = "deliver"
    MONITOR = "monitor"
    RESET = "reset"
    WAIT_BACK = "wait_back"
    VERIFY = "verify"
    EJECT = "eject"
    POSTCHECK = "postcheck"
    UNDRAIN = "undrain"
    DONE = "done"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    PARTIAL = "partial"  # failed with some planned components changed (its error names them)
    SKIPPED = "skipped"
    NOT_APPLICABLE = "not_applicable"


# The update path, in order. Everything between PENDING and DONE is "active".
PATH: tuple[NodeStep, ...] = (
    NodeStep.PRECHECK, NodeStep.DRAIN, NodeStep.DELIVER, NodeStep.MONITOR, NodeStep.RESET,
    NodeStep.WAIT_BACK, NodeStep.VERIFY, NodeStep.EJECT, NodeStep.POSTCHECK, NodeStep.UNDRAIN,
)
ACTIVE_STEPS: frozenset[NodeStep] = frozenset(PATH)
FINAL_STEPS: frozenset[NodeStep] = frozenset(
    {NodeStep.DONE, NodeStep.SKIPPED, NodeStep.NOT_APPLICABLE}
)
# Where a failed node rests until an operator retries or clears it.
OPERATOR_STEPS: frozenset[NodeStep] = frozenset({NodeStep.QUARANTINED, NodeStep.PARTIAL})
FAILURE_STEPS: frozenset[NodeStep] = frozenset({NodeStep.FAILED, *OPERATOR_STEPS})
# Staged activation's first part: STAGE is driven by a worker but takes no host down,
# STAGED rests until its reset is admitted. Neither occupies the allowance by itself.
STAGING_STEPS: frozenset[NodeStep] = frozenset({NodeStep.STAGE, NodeStep.STAGED})
_MANDATORY: frozenset[NodeStep] = frozenset({NodeStep.VERIFY, NodeStep.POSTCHECK})


def _forward_targets(step: NodeStep) -> set[NodeStep]:
    """Later steps reachable from ``step`` without jumping over a mandatory one."""
    position = PATH.index(step)
    targets: set[NodeStep] = set()
    for later in (*PATH[position + 1:], NodeStep.DONE):
        targets.add(later)
        if later in _MANDATORY:
            break
    return targets


def _build_transitions() -> dict[NodeStep, frozenset[NodeStep]]:
    table: dict[NodeStep, set[NodeStep]] = {
        # PRECHECK is the only way in; SKIPPED when the campaign ends before the node started.
        NodeStep.PENDING: {NodeStep.PRECHECK, NodeStep.STAGE, NodeStep.SKIPPED},
        # Staging: up to date or not applicable any more → SKIPPED, as PRECHECK would.
        NodeStep.STAGE: {NodeStep.STAGED, NodeStep.SKIPPED, NodeStep.FAILED},
        # The reset is admitted (window, allowance): the disruptive part starts.
        NodeStep.STAGED: {NodeStep.PRECHECK},
        NodeStep.FAILED: set(OPERATOR_STEPS),
        # Operator actions: retry puts it back in the queue, clear gives it up.
        NodeStep.QUARANTINED: {NodeStep.PENDING, NodeStep.SKIPPED},
        NodeStep.PARTIAL: {NodeStep.PENDING, NodeStep.SKIPPED},
        NodeStep.DONE: set(),
        NodeStep.SKIPPED: set(),
        NodeStep.NOT_APPLICABLE: set(),
    }
    for step in PATH:
        table[step] = _forward_targets(step) | {NodeStep.FAILED}
    # Precheck may find the node already on the target versions: nothing to do.
    table[NodeStep.PRECHECK].add(NodeStep.SKIPPED)
    # A cluster manager's drain may not free the node in time (it is resumed, untouched).
    table[NodeStep.DRAIN].add(NodeStep.SKIPPED)
    # A BMC that stages host images silently (a completed task, versions unchanged) gets
    # the one host reset the slot allows, then VERIFY again: a reset, never a second flash
    # (docs/interop.md, "staged-silently-until-host-reset").
    table[NodeStep.VERIFY].add(NodeStep.RESET)
    return {step: frozenset(targets) for step, targets in table.items()}


TRANSITIONS: dict[NodeStep, frozenset[NodeStep]] = _build_transitions()


def can_transition(current: NodeStep, target: NodeStep) -> bool:
    """True when ``current`` → ``target`` is a legal node transition."""
    return target in TRANSITIONS[current]


def occupies_allowance(step: NodeStep, health: Health) -> bool:
    """Whether a node in ``step`` with observed ``health`` counts as unavailable.

    Active and FAILED nodes always count: the gateway has taken them (or is
    still making them safe). Every other node, QUARANTINED and the staging
    steps included, counts until it is observed UP, so a quarantined node keeps
    its group's slot until it is healthy again.
    """
    if step in ACTIVE_STEPS or step is NodeStep.FAILED:
        return True
    return health is not Health.UP


# A step's place in NodeStep times 4 (NodeRun.admission_byte), found by identity:
# hashing an Enum member is a Python call.
_STEP_CODES: dict[int, int] = {id(step): place * 4 for place, step in enumerate(NodeStep)}


@dataclass(frozen=True)
class NodeRun:
    """One node's progress in one campaign.

    ``attempt`` counts retries (1 = first try). ``canary``: the node belongs to
    the canary phase. ``held``: a manual-only node that waits for an operator
    to release it; the gateway never starts a held node. ``error``: one line
    saying why the node failed or was skipped (no secrets).
    """

    node_id: str
    step: NodeStep = NodeStep.PENDING
    attempt: int = 1
    canary: bool = False
    held: bool = False
    error: str | None = None
    # Step, canary and held in one small int (the step's place in NodeStep times 4, plus
    # 2 when canary, plus 1 when held): admission's whole-fleet count reads this one
    # attribute per run instead of three (admission_flat.py). Computed with the run.
    admission_byte: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        code = _STEP_CODES.get(id(self.step))
        if code is None:  # a plain string equal to a step's value
            code = _STEP_CODES[id(NodeStep(self.step))]
        object.__setattr__(self, "admission_byte", code + 2 * bool(self.canary) + bool(self.held))

    def to(self, target: NodeStep, *, error: str | None = None) -> NodeRun:
        """Move to ``target``; raises IllegalTransitionError when not allowed."""
        if not can_transition(self.step, target):
            raise IllegalTransitionError("node", self.node_id, self.step.value, target.value)
        if target is NodeStep.PRECHECK and self.held:
            raise IllegalTransitionError(
                "node", self.node_id, self.step.value, target.value,
                "node is manual-only and has not been released by an operator",
            )
        return replace(self, step=target, error=error if error is not None else self.error)

    def fail(self, reason: str) -> NodeRun:
        """An active step failed: record ``reason`` and move to FAILED."""
        return self.to(NodeStep.FAILED, error=reason)

    @property
    def active(self) -> bool:
        return self.step in ACTIVE_STEPS

    @property
    def finished(self) -> bool:
        return self.step in FINAL_STEPS


def retry_node(run: NodeRun) -> NodeRun:
    """Operator "retry": a quarantined (or partial) node goes back to PENDING (attempt
    + 1); a held manual-only node is released. Raises IllegalTransitionError otherwise."""
    if run.step is NodeStep.PENDING and run.held:
        return replace(run, held=False)
    if run.step not in OPERATOR_STEPS:
        raise IllegalTransitionError(
            "node", run.node_id, run.step.value, "retry",
            "only a quarantined or partial node, or a held manual-only node, can be retried",
        )
    return replace(run, step=NodeStep.PENDING, attempt=run.attempt + 1, error=None)


def clear_node(run: NodeRun) -> NodeRun:
    """Operator "clear": give a node up (SKIPPED). A quarantined (or partial) node stops
    counting as a failure; a pending one (e.g. down since planning) is no longer waited
    for. Either still counts as unavailable while it is observed down."""
    if run.step in OPERATOR_STEPS:
        return replace(run, step=NodeStep.SKIPPED, error=f"cleared by operator ({run.error})")
    if run.step is NodeStep.PENDING:
        return replace(run, step=NodeStep.SKIPPED, error="cleared by operator before it started")
    raise IllegalTransitionError(
        "node", run.node_id, run.step.value, "clear",
        "only a pending, quarantined or partial node can be cleared",
    )


def after_failure(before: Mapping[str, str], targets: Mapping[str, str],
                  installed: Mapping[str, str]) -> tuple[NodeStep, str]:
    """Where a failed node rests once made safe, from its versions read back: PARTIAL
    when some planned components changed and others did not (the node is neither on
    the old versions nor on the new ones), else QUARANTINED; with a note naming what
    changed and what did not, e.g. "partial: changed BIOS 1.0→1.5; unchanged NIC 7.0
    (target 7.1)"."""
    changed = [f"{c} {before.get(c, 'absent')}→{installed[c]}" for c in sorted(targets)
               if c in installed and installed[c] != before.get(c)]
    unchanged = [f"{c} {installed.get(c, 'absent')} (target {targets[c]})"
                 for c in sorted(targets) if installed.get(c, before.get(c)) == before.get(c)]
    if changed and unchanged:
        return NodeStep.PARTIAL, (f"partial: changed {', '.join(changed)}; "
                                  f"unchanged {', '.join(unchanged)}")
    if changed:
        return NodeStep.QUARANTINED, f"versions read back: all changed ({', '.join(changed)})"
    return NodeStep.QUARANTINED, f"versions read back: none changed ({', '.join(unchanged)})"
