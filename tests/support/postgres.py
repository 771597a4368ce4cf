"""Fixtures for a throwaway PostgreSQL server (lab/lab_postgres.py does the work).

Registered as a pytest plugin by tests/conftest.py:
- ``postgres_server``: one server per test session, stopped and deleted after.
- ``database_url``: a fresh, empty database per test, parametrized over
  ``sqlite`` and ``postgresql``: every test using it runs on both backends.
- ``postgres_url``: a fresh PostgreSQL database only (whole-campaign tests).
- ``private_postgres``: a server of the test's own, which it may stop (a partition).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab.lab_postgres import PostgresServer, start_postgres

__all__ = ["PostgresServer", "start_postgres"]

@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A server started now, stopped and deleted on leaving."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A server of its own: the test may stop and restart it."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each backend (the test runs twice)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'gateway.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
