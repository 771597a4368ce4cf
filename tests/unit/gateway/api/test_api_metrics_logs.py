"""/metrics scraped and parsed; BMC errors counted by kind; JSON logs; no secrets logged."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.logs import JsonFormatter, configure_logging
from gateway.api.metrics import BmcErrorCounter
from gateway.api.settings import LoggingSettings
from gateway.redfish.errors import AuthenticationError, BmcUnreachableError, RedfishError
from tests.unit.gateway.api.conftest import IMAGE_PREFIX, ApiHarness


def _scrape(api: ApiHarness) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = api.client.get("/metrics", headers=api.headers("viewer"))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    values: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = \
                sample.value
    return values


def test_alerts_by_decision_and_images_by_state(api: ApiHarness) -> None:
    body = {"source": "acme", "image_uri": IMAGE_PREFIX + "a.iso", "sha256": "ab" * 32,
            "bundle_id": "b", "release": "r"}
    headers = api.headers("operator")
    api.client.post("/api/alerts", json=body, headers=headers)
    api.client.post("/api/alerts", json=body, headers=headers)
    api.client.post("/api/alerts", json=body | {"image_uri": "http://evil.example/a.iso",
                                                "sha256": "cd" * 32}, headers=headers)
    metrics = _scrape(api)
    alerts = {dict(k)["decision"]: v for k, v in metrics["fleetflash_alerts_total"].items()}
    assert alerts == {"accepted": 1, "duplicate": 1, "rejected": 1, "withdrawn": 0,
                      "ignored": 0}
    images = {dict(k)["state"]: v for k, v in metrics["fleetflash_images"].items()}
    assert images["pending"] == 1 and images["verified"] == 0


def test_database_statements_are_counted_and_grow_with_the_work_done(api: ApiHarness) -> None:
    """What several gateways sharing one database cost it: each gateway counts the SQL
    statements it sent (bench/rollout.py divides them by the nodes updated)."""
    first = _scrape(api)["fleetflash_db_statements_total"][()]
    before = _scrape(api)["fleetflash_db_statements_total"][()]
    idle = before - first  # what a scrape alone sends: it reads the store
    assert idle > 0
    body = {"source": "acme", "image_uri": IMAGE_PREFIX + "a.iso", "sha256": "ab" * 32,
            "bundle_id": "b", "release": "r"}
    assert api.client.post("/api/alerts", json=body,
                           headers=api.headers("operator")).status_code < 300
    after = _scrape(api)["fleetflash_db_statements_total"][()]
    assert after - before > idle  # the alert's statements on top of the scrape's


def test_bmc_errors_are_counted_by_kind_from_the_orchestrator_log(api: ApiHarness) -> None:
    logger = logging.getLogger("gateway.orchestrator.test")
    handler = BmcErrorCounter(api.context.metrics, RedfishError)
    parent = logging.getLogger("gateway.orchestrator")
    parent.addHandler(handler)
    # Earlier tests may have configured a quieter root level (apply_logging_config);
    # the orchestrator's warnings must reach the counter whatever ran before.
    saved = (logger.level, logger.disabled, parent.disabled, logging.root.manager.disable)
    logger.setLevel(logging.WARNING)
    logger.disabled = parent.disabled = False
    logging.disable(logging.NOTSET)
    try:
        logger.warning("node %s: %s (retry)", "n1", BmcUnreachableError("refused"))
        logger.warning("node %s: %s (retry)", "n2", BmcUnreachableError("timeout"))
        logger.warning("node %s: %s", "n3", AuthenticationError("401"))
        logger.warning("node %s: nothing to count", "n4")
    finally:
        parent.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.disabled, parent.disabled = saved[1], saved[2]
        logging.disable(saved[3])
    errors = {dict(k)["kind"]: v for k, v in _scrape(api)["fleetflash_bmc_errors_total"].items()}
    assert errors == {"BmcUnreachable": 2, "Authentication": 1}


def test_json_log_lines_are_one_object_each(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord("gateway.x", logging.WARNING, __file__, 1, "node %s failed: %s",
                               ("bmc-1", "timeout"), None)
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["message"] == "node bmc-1 failed: timeout"
    assert data["level"] == "WARNING" and data["logger"] == "gateway.x"
    assert data["time"].endswith("+00:00")


def test_configure_logging_switches_the_root_handlers_to_json() -> None:
    root = logging.getLogger()
    saved = [(h, h.formatter) for h in root.handlers], root.level
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        configure_logging(LoggingSettings("json", "INFO"))
        assert isinstance(handler.formatter, JsonFormatter)
        assert root.level == logging.INFO
    finally:
        root.removeHandler(handler)
        for existing, formatter in saved[0]:
            existing.setFormatter(formatter)
        root.setLevel(saved[1])


def test_tokens_never_reach_the_log(api: ApiHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.client.get("/api/alerts", headers=api.headers("admin"))
    api.client.get("/api/alerts", headers={"Authorization": "Bearer ff_" + "y" * 40})
    api.client.post("/login", data={"token": api.tokens["viewer"]})
    created = api.client.post("/api/tokens", json={"name": "n", "role": "viewer"},
                              headers=api.headers("admin")).json["token"]
    for secret in (*api.tokens.values(), created, "ff_" + "y" * 40):
        assert secret not in caplog.text
