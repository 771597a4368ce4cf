"""Fixtures for API tests: a real SQLite (or PostgreSQL) store, intake service, tokens of
every role, and Flask's test client over the real app (no server needed for unit tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.api.app import create_app
from gateway.api.context import ApiContext
from gateway.config import load_config
from gateway.intake.service import IntakeService
from gateway.store import GatewayStore
from tests.conftest import TestKeys
from tests.integration.intake.gatewaykit import write_config

IMAGE_PREFIX = "http://127.0.0.1:9/fw/"
BACKENDS = ["sqlite", "postgresql"]


@dataclass
class ApiHarness:
    """The app, its context and one token per role (`tokens[role]` is the secret)."""

    app: Flask
    context: ApiContext
    tokens: dict[str, str]
    client: FlaskClient

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def api(tmp_path: Path, test_keys: TestKeys, request: pytest.FixtureRequest
        ) -> Iterator[ApiHarness]:
    """On SQLite; a module runs on PostgreSQL too with
    ``pytestmark = pytest.mark.parametrize("api", BACKENDS, indirect=True)``."""
    config = load_config(write_config(tmp_path, prefixes=[IMAGE_PREFIX],
                                      trusted_key=test_keys.public))
    backend = getattr(request, "param", "sqlite")
    url = (request.getfixturevalue("postgres_url") if backend == "postgresql"
           else config.database_url)
    store = GatewayStore.open(url)
    context = ApiContext.for_store(store, intake=IntakeService(config, store))
    tokens = {role: context.tokens.create(f"{role}-token", role)[1]
              for role in ("viewer", "operator", "admin")}
    app = create_app(context)
    yield ApiHarness(app, context, tokens, app.test_client())
    store.close()
