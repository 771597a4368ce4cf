"""A real gateway listener on 127.0.0.1 for the CIM tests (module-scoped: start-up is cheap
but not free, and each test checks the store delta it caused)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.service import Gateway
from tests.conftest import KEYS_DIR
from tests.integration.intake.gatewaykit import (
    SOURCE_PASSWORD,
    SOURCE_USER,
    running_gateway,
    write_config,
)

ALLOWED_PREFIX = "http://127.0.0.1:9/fw/"  # nothing listens on port 9: fetches fail fast


def basic(user: str = SOURCE_USER, password: str = SOURCE_PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory: Path = tmp_path_factory.mktemp("cim-gateway")
    config = write_config(directory, prefixes=[ALLOWED_PREFIX],
                          trusted_key=KEYS_DIR / "TEST-ONLY-bundle-signing.pub",
                          max_body=16384)
    # A long poll interval keeps the worker from touching images during these tests.
    with running_gateway(config, poll_interval=3600) as running:
        running.worker.stop()
        yield running
