"""The background loop's image sharing (gateway/orchestrator/wiring.py share_images): a
gateway alone in its fleet sends no statement for it; one with a peer advertises its
images and looks for the ones open campaigns need. Statements are counted on the real
SQLite engine as it sends them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from gateway.config import load_config
from gateway.media.cache import ImageCache
from gateway.orchestrator.wiring import Orchestration, build_orchestration
from gateway.store import GatewayStore
from gateway.store.gateways import GatewayRegistry
from tests.support.gateway_toml import bmc_toml, cluster_toml, gateway_toml, write_gateway_config


@pytest.fixture
def orchestration(tmp_path: Path) -> Iterator[tuple[Orchestration, GatewayStore]]:
    config = load_config(write_gateway_config(
        tmp_path, gateway_toml(tmp_path / "state", name="gw-a"), cluster_toml("hpc"),
        bmc_toml("n1", "hpc", "rack1", "https://127.0.0.1:9", password="pw")))
    store = GatewayStore.open(config.database_url)
    try:
        built = build_orchestration(config, store, ImageCache(tmp_path / "cache", 10**9))
        assert built is not None
        built.join()
        yield built, store
    finally:
        store.close()


def _statements(store: GatewayStore, orchestration: Orchestration, rounds: int) -> list[str]:
    """The SQL the background loop's chores send in ``rounds`` passes."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        for _ in range(rounds):
            for chore in orchestration.orchestrator.housekeeping:
                chore()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return sent


def test_a_gateway_alone_sends_no_statement_to_share_images(
        orchestration: tuple[Orchestration, GatewayStore]) -> None:
    built, store = orchestration
    membership = built.orchestrator.membership
    assert membership.heartbeat() and membership.live_members == 1
    assert _statements(store, built, 5) == []


def test_with_a_peer_it_advertises_and_looks_for_wanted_images(
        orchestration: tuple[Orchestration, GatewayStore]) -> None:
    built, store = orchestration
    peer = GatewayRegistry(store.engine, "gw-b", "other", host="h2", pid=1,
                           dead_after=timedelta(seconds=60), pid_alive=lambda _pid: True)
    peer.register()
    membership = built.orchestrator.membership
    assert membership.live_members == 1  # not counted before the next heartbeat ...
    membership.assign(["n1"])  # ... unless, as leader, it assigns nodes meanwhile
    assert membership.live_members == 2
    sent = " ".join(_statements(store, built, 1))
    assert "image_copies" in sent and "campaigns" in sent, sent
    # The peer stops: the next heartbeat counts one member, and sharing stops with it.
    peer.deregister()
    assert membership.heartbeat() and membership.live_members == 1
    assert _statements(store, built, 5) == []
