"""The step history of node runs on a real SQLite file: every step change the store
writes (start, advance, failure, quarantine, operator retry) leaves a span, and the
schema the migrations build matches the tables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.domain import RunProgress
from gateway.store import GatewayStore, utcnow
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore
from gateway.store.models import Base

SHA = "d" * 64
LEASE = timedelta(minutes=5)


def _store(tmp_path: Path) -> tuple[GatewayStore, CampaignStore]:
    store = GatewayStore.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    with store.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO images (sha256, state, source, image_uri, bundle_id, release, "
            "manifest_verified, attempts, reason, created_at, updated_at) VALUES (:sha, "
            "'verified', 'acme', 'http://h/x.iso', 'b', 'r', 1, 0, '', :now, :now)"),
            {"sha": SHA, "now": utcnow()})
    campaigns = CampaignStore(store.engine)
    assert campaigns.create_campaign(
        NewCampaign(id="c1", cluster="lab", image_sha256=SHA, bundle_id="b", release="r",
                    state="running", failure_budget=1, canaries=("n1",)),
        [NewRun("n1", "pending", canary=True), NewRun("n2", "pending")])
    return store, campaigns


def _move(campaigns: CampaignStore, node: str, old: str, new: str, **fields: object) -> None:
    assert campaigns.save_run("c1", node, owner="gw", expected_step=old, step=new,
                              step_started_at=utcnow(), **fields)


def test_each_step_change_closes_one_span_and_opens_the_next(tmp_path: Path) -> None:
    _, campaigns = _store(tmp_path)
    assert campaigns.step_spans("c1") == []
    assert campaigns.start_runs("c1", ["n1", "n2"], "gw", LEASE, "precheck") == ["n1", "n2"]
    for old, new in (("precheck", "deliver"), ("deliver", "monitor"), ("monitor", "verify"),
                     ("verify", "done")):
        _move(campaigns, "n1", old, new)
    _move(campaigns, "n2", "precheck", "deliver")
    _move(campaigns, "n2", "deliver", "failed", error="deliver: the BMC refused the image")
    assert campaigns.save_run("c1", "n2", owner="gw", expected_step="failed",
                              step="quarantined", error="deliver: the BMC refused the image")
    # A progress-only write is not a step change: no span.
    assert campaigns.save_run("c1", "n2", owner=None, expected_step="quarantined",
                              progress=RunProgress(resume="a note"))

    spans = campaigns.step_spans("c1")
    n1 = [s for s in spans if s.node_id == "n1"]
    assert [(s.step, s.next_step) for s in n1] == [
        ("precheck", "deliver"), ("deliver", "monitor"), ("monitor", "verify"),
        ("verify", "done")]
    assert all(s.ended_at is not None for s in n1)
    assert all(a.ended_at == b.started_at for a, b in zip(n1, n1[1:], strict=False))
    assert all(s.started_at <= s.ended_at for s in n1 if s.ended_at)  # type: ignore[operator]
    n2 = [s for s in spans if s.node_id == "n2"]
    assert [(s.step, s.next_step) for s in n2] == [
        ("precheck", "deliver"), ("deliver", "failed"), ("failed", "quarantined")]
    assert n2[1].detail == "deliver: the BMC refused the image"

    # An operator retry puts the node back in the queue; its second attempt is its own.
    assert campaigns.save_run("c1", "n2", owner=None, expected_step="quarantined",
                              step="pending", attempt=2)
    assert campaigns.start_runs("c1", ["n2"], "gw", LEASE, "precheck") == ["n2"]
    latest = [s for s in campaigns.step_spans("c1") if s.node_id == "n2"][-1]
    assert (latest.step, latest.attempt, latest.ended_at) == ("precheck", 2, None)


def test_a_lost_compare_and_set_records_nothing(tmp_path: Path) -> None:
    _, campaigns = _store(tmp_path)
    campaigns.start_runs("c1", ["n1"], "gw", LEASE, "precheck")
    assert not campaigns.save_run("c1", "n1", owner="other-gateway",
                                  expected_step="precheck", step="deliver")
    assert not campaigns.save_run("c1", "n1", owner="gw", expected_step="deliver",
                                  step="monitor")
    assert [(s.step, s.ended_at) for s in campaigns.step_spans("c1")] == [("precheck", None)]


def test_the_migrated_schema_matches_the_tables(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    with store.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diffs if "node_run_steps" in repr(d)] == []
