"""Statements counted by kind (gateway/store/database.py statements_by_kind): verb and
table, on the real SQLite engine as the store sends them, adding up to the total that
fleetflash_db_statements_total shows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from gateway.store import GatewayStore, ImageState, statements_by_kind, statements_executed
from gateway.store.campaigns import CampaignStore
from gateway.store.gateways import GatewayRegistry


def test_each_statement_is_counted_under_its_verb_and_table(tmp_path: Path) -> None:
    store = GatewayStore.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    try:
        engine = store.engine
        before, total = statements_by_kind(engine), statements_executed(engine)
        store.list_images(ImageState.VERIFIED)
        CampaignStore(engine).list_campaigns()
        registry = GatewayRegistry(engine, "gw-a", "one", host="h", pid=1,
                                   dead_after=timedelta(seconds=60),
                                   pid_alive=lambda _pid: True)
        registry.register()
        assert registry.heartbeat()
        sent = statements_by_kind(engine) - before
        assert sent["SELECT images"] == 1, sent
        assert sent["SELECT campaigns"] == 1, sent
        assert sent["UPDATE gateways"] >= 1, sent
        assert sum(sent.values()) == statements_executed(engine) - total
        # Only verb and table: never a statement's values.
        assert not [kind for kind in sent if "gw-a" in kind or "'" in kind], sent
    finally:
        store.close()
