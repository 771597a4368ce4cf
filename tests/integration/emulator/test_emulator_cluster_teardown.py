"""Stopping a cluster while BMCs are restarting: the restart threads finish quietly."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from emulator.cluster import EmulatedCluster


def test_restart_threads_that_outlive_the_cluster_end_without_errors(
        cluster_factory: Callable[..., EmulatedCluster],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    cluster = cluster_factory(nodes=2, bmc_restart_seconds=0.3)
    for bmc in cluster.bmcs:
        bmc.restart_bmc("teardown test")
    restarts = [t for t in threading.enumerate() if t.name.endswith("-restart")]
    assert len(restarts) == 2
    cluster.stop()  # the restart threads are still sleeping with their ports closed
    for thread in restarts:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert failures == []
    assert "not managed by this server" not in caplog.text
    assert "restart failed" not in caplog.text
