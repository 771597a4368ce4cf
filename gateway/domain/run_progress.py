"""The crash-safety markers of one node run, as one typed record.

A step handler persists a marker *before* the side effect it guards, so that a
gateway resuming the run after a crash (its own restart, or another member of
the fleet) knows what may already have happened and never flashes a node twice
(docs/orchestration.md, "Executor"). Each marker is a typed field: a misspelt
one is a type error, not a silently missing key.

Adding a marker is one line here: a field with a default meaning "not set".
Rows written before it existed load with that default; the store's codec
(gateway.store.run_progress) converts fields by their annotation, so a new field
of a type it already knows (str, int, float, bool, datetime, a StrEnum, tuples
of those, each optionally None) needs nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.domain.delivery import DeliveryMethod
from gateway.domain.node_state import NodeStep


@dataclass(frozen=True)
class RunProgress:
    """What a node run's steps have set or begun so far, in its current attempt.
    Every field's default means "not set"; update with ``dataclasses.replace``."""

    # -- DELIVER, task-based methods (SimpleUpdate, multipart push) -----------------
    # When the update request was about to be sent: after a crash the BMC's newest task
    # started since then is adopted instead of sending the update again.
    update_intent: datetime | None = None
    task: str | None = None  # the BMC task's monitor URI, followed by MONITOR
    task_uri: str | None = None  # the task resource itself, when the BMC named it
    # The monitor URI (task's or staging task's) that has answered at least once: a 404
    # from it means the task is gone, not that it does not exist yet (task_follow.py).
    task_seen: str | None = None
    # -- DELIVER, MSC (virtual CD) ---------------------------------------------------
    reset_intent: datetime | None = None  # the host reset into the update CD was asked for
    # When the BMC took that reset: this CD run's results come after it, an earlier run's
    # (a superseded attempt's) before it, since a BMC takes no reset while a run goes on.
    cd_booted_at: datetime | None = None
    own_media: tuple[str, ...] = ()  # image URLs the gateway inserted in the virtual CD
    own_boot: bool = False  # the gateway asked for a one-time boot from the virtual CD
    media: bool = False  # the update CD was delivered (MONITOR follows versions, no task)
    # -- DELIVER and MONITOR: redelivery after a gateway restart ---------------------
    epoch: str | None = None  # the gateway process that delivered (its media died with it)
    redeliveries: int = 0  # deliveries made again after a gateway restart
    settle_until: datetime | None = None  # let an orphaned CD run finish before rebooting it
    # -- MONITOR and VERIFY: what a timeout reports ----------------------------------
    behind: str | None = None  # components still below target when last read
    bmc_said: str | None = None  # what the BMC's task last said
    percent: int | None = None  # the BMC task's percent complete, when it gives one
    # -- RESET -----------------------------------------------------------------------
    host_reset_sent: datetime | None = None
    # -- DRAIN and UNDRAIN through a cluster manager ---------------------------------
    drained_by_us: str | None = None  # the manager's name of the node the gateway drained
    drain_requested_at: datetime | None = None
    cancelled_jobs: tuple[int, ...] | None = None  # jobs cancelled at max_wait_s (None: none)
    resume: str | None = None  # why UNDRAIN left the node as it was
    # -- STAGE: staged activation (gateway/orchestrator/staging.py) ------------------
    stage_intent: datetime | None = None  # the staging request may have reached the BMC
    stage_task: str | None = None  # the staging task's monitor URI ...
    stage_task_uri: str | None = None  # ... and its Task URI
    stage_epoch: str | None = None  # the gateway process that sent it (its media served it)
    stage_resent: int = 0  # times staging was sent again after a gateway restart
    # PRECHECK's findings (run fields), stored on the run when it becomes STAGED
    stage_checked: Mapping[str, Any] | None = field(default=None, hash=False)
    stage_method: DeliveryMethod | None = None  # the rest of the update goes the same way
    staged: tuple[str, ...] | None = None  # components staged (empty: none could be)
    # -- engine ----------------------------------------------------------------------
    retries: int = 0  # consecutive transient BMC errors in this step
    failed_in: NodeStep | None = None  # the step the run failed in
    # Markers this gateway does not know (written by a newer one in a mixed-version
    # fleet): kept as they were and written back, never interpreted.
    unknown: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)
