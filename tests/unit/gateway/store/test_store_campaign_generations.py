"""Campaign generations on a real SQLite file: a database made before them is migrated
with its campaigns and runs kept, and an image gets a second campaign on a cluster only
as a new generation."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.store import GatewayStore
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore
from gateway.store.database import _alembic_config, create_engine
from gateway.store.models import Base

SHA = "c" * 64
NOW = "2026-12-01 10:00:00.000000"


def _campaign(generation: int, unreached: dict[str, str] | None = None) -> NewCampaign:
    return NewCampaign(id=f"lab-{SHA[:12]}" + ("" if generation == 1 else f"-{generation}"),
                       cluster="lab", image_sha256=SHA, bundle_id="b", release="r",
                       state="running", failure_budget=0, canaries=(),
                       generation=generation, unreached=unreached or {})


def _old_database(url: str) -> None:
    """A database at the revision before generations, holding one campaign and its run."""
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "orch_0001_campaigns")
        connection.execute(sa.text(
            "INSERT INTO images (sha256, state, source, image_uri, bundle_id, release, "
            "manifest_verified, attempts, reason, created_at, updated_at) VALUES (:sha, "
            "'verified', 'acme', 'http://h/x.iso', 'b', 'r', 1, 0, '', :now, :now)"),
            {"sha": SHA, "now": NOW})
        connection.execute(sa.text(
            "INSERT INTO campaigns (id, cluster, image_sha256, bundle_id, release, state, "
            "failure_budget, canaries, reason, planned_waves, lower_bound, created_at, "
            "updated_at) VALUES ('old', 'lab', :sha, 'b', 'r', 'completed', 0, '[]', "
            "'every node finished', 1, 1, :now, :now)"), {"sha": SHA, "now": NOW})
        connection.execute(sa.text(
            "INSERT INTO node_runs (campaign_id, node_id, step, attempt, canary, held, model, "
            "packages, before_versions, target_versions, after_versions, progress, timings, "
            "updated_at) VALUES ('old', 'n1', 'done', 1, 0, 0, 'M', '[]', '{}', '{}', '{}', "
            "'{}', '{}', :now)"), {"now": NOW})
    engine.dispose()


def test_old_campaigns_survive_the_migration_as_generation_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    _old_database(url)
    store = GatewayStore.open(url)
    campaigns = CampaignStore(store.engine)
    old = campaigns.get_campaign("old")
    assert (old.generation, old.unreached, old.state) == (1, {}, "completed")
    assert [r.step for r in campaigns.runs("old")] == ["done"]
    assert campaigns.find_campaign(SHA, "lab") == old
    # The same generation again is refused (another gateway was first) ...
    assert not campaigns.create_campaign(_campaign(1), [])
    # ... the next one is a new campaign, found as the newest.
    assert campaigns.create_campaign(_campaign(2, {"n2": "connection refused"}),
                                     [NewRun("n1", "pending")])
    newest = campaigns.find_campaign(SHA, "lab")
    assert newest is not None and (newest.generation, newest.unreached) == (
        2, {"n2": "connection refused"})
    with store.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diffs if "campaigns" in repr(d)] == []
