"""Refusal counts: one row per listener, client address, reason and bucket, visible at
GET /api/refusals and in /metrics, purged after the retention by the log's own thread."""

from __future__ import annotations

from datetime import timedelta

from gateway.intake.refusals import RefusalLog, RefusalSettings
from gateway.store import utcnow
from gateway.store.refusals import RefusalCount, add_refusals, list_refusals
from tests.support.waiting import wait_until
from tests.unit.gateway.api.conftest import ApiHarness


def test_a_flood_is_one_row_per_address_reason_and_bucket(api: ApiHarness) -> None:
    log = RefusalLog(api.context.store, RefusalSettings())
    for index in range(2000):
        log.record("cim", f"10.0.0.{index % 4}", "unauthenticated", f"401: attempt {index}")
        if index % 500 == 0:
            log.flush()  # several flushes add to the same rows
    log.record("cim", "10.0.0.0", "malformed-request", "400: not XML")
    log.flush()

    response = api.client.get("/api/refusals?limit=50", headers=api.headers("viewer"))
    assert response.status_code == 200
    page = response.get_json()
    assert page["total"] == 5
    rows = {(r["client_address"], r["reason"]): r for r in page["items"]}
    assert {k: r["count"] for k, r in rows.items()} == {
        **{(f"10.0.0.{i}", "unauthenticated"): 500 for i in range(4)},
        ("10.0.0.0", "malformed-request"): 1}
    last = rows[("10.0.0.3", "unauthenticated")]
    assert last["last_sample"] == "401: attempt 1999"
    assert last["first_at"] <= last["last_at"]
    only = api.client.get("/api/refusals?reason=malformed-request",
                          headers=api.headers("viewer")).get_json()
    assert [r["client_address"] for r in only["items"]] == ["10.0.0.0"]

    metrics = api.client.get("/metrics", headers=api.headers("viewer")).get_data(as_text=True)
    assert 'fleetflash_refusals_total{channel="cim",reason="unauthenticated"} 2000.0' in metrics
    assert api.context.store.count_alerts() == 0  # none of it became an alert row


def test_refusals_need_a_token(api: ApiHarness) -> None:
    assert api.client.get("/api/refusals").status_code == 401


def test_rows_past_the_retention_are_purged_by_the_log_itself(api: ApiHarness) -> None:
    engine = api.context.store.engine
    old = utcnow() - timedelta(days=31)
    add_refusals(engine, [RefusalCount("cim", "10.9.9.9", "forbidden", old, 3, old, old,
                                       "403: old")])
    log = RefusalLog(api.context.store, RefusalSettings(retention_days=30, flush_interval_s=0.1))
    log.record("cim", "10.1.1.1", "forbidden", "403: new")
    log.start()
    try:
        wait_until(lambda: [i.client_address for i in
                                 list_refusals(engine, limit=10)[0]] == ["10.1.1.1"])
    finally:
        log.stop()


def test_refusal_settings_are_validated() -> None:
    from pathlib import Path

    import pytest

    from gateway.config import ConfigError, parse_config
    from gateway.intake.refusals import refusal_settings

    def settings(table: dict[str, object]) -> RefusalSettings:
        return refusal_settings(parse_config({"refusals": table}, Path("/x/g.toml")))

    assert settings({}) == RefusalSettings()
    assert settings({"retention_days": 7, "bucket_s": 600}).retention_days == 7
    for bad in ({"retention_days": 0}, {"bucket_s": 10}, {"retention": 30},
                {"flush_interval_s": "2"}, {"retention_days": True}):
        with pytest.raises(ConfigError, match="refusals"):
            settings(bad)
