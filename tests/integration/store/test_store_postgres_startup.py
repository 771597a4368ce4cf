"""`fleetflash gateway serve` with a PostgreSQL URL it cannot use: exit code 2 and a
message naming the URL (password hidden), before anything listens or is written."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import EXIT_DATABASE_UNAVAILABLE, gateway
from tests.conftest import TestKeys
from tests.integration.intake.gatewaykit import write_config
from tests.support.postgres import PostgresServer


def _config_with_database(tmp_path: Path, test_keys: TestKeys, url: str) -> Path:
    path = write_config(tmp_path, prefixes=["http://127.0.0.1:9/fw/"],
                        trusted_key=test_keys.public)
    text = path.read_text()
    path.write_text(text.replace('name = "gw-test"\n',
                                 f'name = "gw-test"\ndatabase_url = "{url}"\n', 1))
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_unreachable_server_exits_2_naming_the_url_without_password(
        tmp_path: Path, test_keys: TestKeys) -> None:
    port = _closed_port()
    url = f"postgresql+psycopg://fleet:s3cret-pw@127.0.0.1:{port}/fleet"
    config = _config_with_database(tmp_path, test_keys, url)
    result = CliRunner().invoke(gateway, ["serve", "--config", str(config)])
    assert result.exit_code == EXIT_DATABASE_UNAVAILABLE == 2, result.output
    assert f"cannot reach database postgresql+psycopg://fleet:***@127.0.0.1:{port}/fleet" \
        in result.output
    assert "s3cret-pw" not in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "state" / "gateway.db").exists()  # no SQLite fallback


def test_missing_database_on_a_running_server_exits_2(
        tmp_path: Path, test_keys: TestKeys, postgres_server: PostgresServer) -> None:
    url = postgres_server.url("no_such_db").replace("fleetflash@", "fleetflash:pw@")
    config = _config_with_database(tmp_path, test_keys, url)
    result = CliRunner().invoke(gateway, ["serve", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert 'database "no_such_db" does not exist' in result.output
    assert "fleetflash:***@" in result.output and ":pw@" not in result.output
