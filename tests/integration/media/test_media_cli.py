"""`fleetflash media serve|url|nginx-site` and the [media] section, end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from lab.cli import main
from tests.integration.media.conftest import write_image

REPO = Path(__file__).resolve().parents[3]


def _config(tmp_path: Path, media: str) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    path = tmp_path / "gateway.toml"
    path.write_text(f"""
[gateway]
state_dir = "state"
[cache]
dir = "images"
[media]
{media}
""", encoding="utf-8")
    return path


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, int, bytes, str]]:
    config = _config(tmp_path, 'http = "127.0.0.1:0"\nbase_url = "http://gw.example:8080"')
    data = os.urandom(300_000)
    digest = write_image(tmp_path / "images", data)
    process = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "media", "serve", "--config", str(config)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "media server listening (http " in line, process.stderr.read()  # type: ignore[union-attr]
        port = int(line.split("http ", 1)[1].split(")", 1)[0])
        yield config, port, data, digest
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_media_serve_and_url_commands_work_together(
        served: tuple[Path, int, bytes, str]) -> None:
    config, port, data, digest = served
    result = CliRunner().invoke(main, ["media", "url", "--config", str(config), "--image",
                                       digest, "--campaign", "c1", "--node", "bmc-1",
                                       "--filename", "q4.iso"])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("http://gw.example:8080/media/") and url.endswith("/q4.iso")
    local = url.replace("http://gw.example:8080", f"http://127.0.0.1:{port}")
    assert requests.get(local, timeout=30).content == data
    response = requests.get(local, headers={"Range": "bytes=-10"}, timeout=30)
    assert (response.status_code, response.content) == (206, data[-10:])
    assert (config.parent / "state" / "media.secret").stat().st_mode & 0o777 == 0o600


def test_media_url_for_unknown_image_is_404(served: tuple[Path, int, bytes, str]) -> None:
    config, port, _, _ = served
    result = CliRunner().invoke(main, ["media", "url", "--config", str(config), "--image",
                                       "0" * 64, "--campaign", "c", "--node", "n"])
    local = result.output.strip().replace("http://gw.example:8080", f"http://127.0.0.1:{port}")
    assert requests.get(local, timeout=30).status_code == 404


@pytest.mark.parametrize(("media", "message"), [
    ('http = "127.0.0.1:0"\nbase_url = "http://gw"\ncolour = "blue"',
     "media: unknown key 'colour'"),
    ('http = "127.0.0.1:0"', "media.base_url is required"),
    ('http = "nonsense"\nbase_url = "http://gw"', "media.http must be HOST:PORT"),
    ('https = "127.0.0.1:0"\nhttp = ""\nbase_url = "http://gw"', "needs media.certfile"),
    ('base_url = "http://gw"\nwithdrawn = ["xyz"]', "media.withdrawn"),
])
def test_media_config_errors_are_one_clear_line(tmp_path: Path, media: str,
                                                message: str) -> None:
    config = _config(tmp_path, media)
    result = CliRunner().invoke(main, ["media", "url", "--config", str(config), "--image",
                                       "0" * 64, "--campaign", "c", "--node", "n"])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_media_nginx_site_prints_a_server_block(tmp_path: Path) -> None:
    config = _config(tmp_path, 'http = "0.0.0.0:8080"\nbase_url = "http://gw:8081"\n'
                               'nginx_root = "images"')
    result = CliRunner().invoke(main, ["media", "nginx-site", "--config", str(config),
                                       "--listen", "8081"])
    assert result.exit_code == 0, result.output
    assert "server 127.0.0.1:8080;" in result.output
    assert f"root {tmp_path / 'images'};" in result.output
    assert "auth_request /_fleetflash/authorize;" in result.output
