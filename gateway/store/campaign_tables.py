"""Tables of the orchestrator: campaigns, node runs, managed nodes and named leases.

Owned by gateway/orchestrator (created by migration ``orch_0001_campaigns``).
They live in the store package so `gateway.store.models.Base.metadata` holds
them without the store importing the orchestrator. JSON-valued columns are
plain Text (portable to every backend); the repository encodes and decodes them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, UTCDateTime


class CampaignRow(Base):
    """One verified image rolled out to one cluster (state: gateway.domain.CampaignState).

    ``generation`` counts the campaigns of that image on that cluster (a new one may
    start once the previous ended); ``unreached``: JSON node id -> why its BMC could
    not be inventoried when the campaign was created (those nodes have no run).
    """

    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("image_sha256", "cluster", "generation",
                                       name="uq_campaigns_image_cluster_generation"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(64), index=True)
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"))
    bundle_id: Mapped[str] = mapped_column(String(256))
    release: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(32), index=True)
    failure_budget: Mapped[int] = mapped_column(Integer)
    canaries: Mapped[str] = mapped_column(Text)  # JSON list of node ids
    reason: Mapped[str] = mapped_column(Text, default="")
    planned_waves: Mapped[int] = mapped_column(Integer, default=0)
    lower_bound: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    unreached: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    allow_downgrade: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NodeRunRow(Base):
    """One node's progress in one campaign (step: gateway.domain.NodeStep).

    ``progress`` holds the markers that make a step re-entrant after a crash
    (e.g. "the reset was about to be sent", the task monitor URI); the lease
    columns say which gateway drives the node and until when.
    """

    __tablename__ = "node_runs"
    __table_args__ = (Index("ix_node_runs_step_lease", "step", "lease_expires"),
                      Index("ix_node_runs_lease_owner", "lease_owner"))

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(24))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    canary: Mapped[bool] = mapped_column(default=False)
    held: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(128), default="")
    method: Mapped[str | None] = mapped_column(String(24))
    packages: Mapped[str] = mapped_column(Text, default="[]")
    before_versions: Mapped[str] = mapped_column(Text, default="{}")
    target_versions: Mapped[str] = mapped_column(Text, default="{}")
    after_versions: Mapped[str] = mapped_column(Text, default="{}")
    progress: Mapped[str] = mapped_column(Text, default="{}")
    timings: Mapped[str] = mapped_column(Text, default="{}")
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Fencing counter: +1 whenever the run is leased to a gateway that did not hold it
    # (start, takeover). BMC-changing actions check it (CampaignStore.holds).
    fence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ManagedNodeRow(Base):
    """The last inventory of a registered BMC (what compliance and admission read)."""

    __tablename__ = "managed_nodes"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(128), default="")
    serial: Mapped[str] = mapped_column(String(128), default="")
    health: Mapped[str] = mapped_column(String(16))  # gateway.domain.Health
    power_state: Mapped[str] = mapped_column(String(16), default="Unknown")
    firmware: Mapped[str] = mapped_column(Text, default="{}")  # JSON component -> version
    capabilities: Mapped[str] = mapped_column(Text, default="{}")
    error: Mapped[str] = mapped_column(Text, default="")
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LeaseRow(Base):
    """A named lease (e.g. "scheduler:<cluster>"): one gateway at a time holds it."""

    __tablename__ = "orchestrator_leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires: Mapped[datetime] = mapped_column(UTCDateTime())


class StepSpanRow(Base):
    """One step a node run spent time in: when it started and ended (NULL while it
    lasts), and the step that followed (``failed`` marks a failure, with ``detail``).

    Written by the store itself whenever a run changes step, so every writer of a
    step (engine, operator actions) leaves the same history; read by timelines.
    """

    __tablename__ = "node_run_steps"
    __table_args__ = (Index("ix_node_run_steps_run", "campaign_id", "node_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    node_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    step: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_step: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[str | None] = mapped_column(Text)


class ManagerReservationRow(Base):
    """A maintenance reservation the gateway booked in a cluster manager for one wave
    (docs/cluster-managers.md, reservation mode). The row is written *before* the
    manager is asked (``booked`` false), so after a crash the gateway knows every
    reservation it may own, and it never deletes one without a row here.
    ``nodes``: JSON list of the wave's node ids (gateway ids, not manager names).
    """

    __tablename__ = "manager_reservations"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    wave: Mapped[int] = mapped_column(Integer)
    nodes: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    booked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
