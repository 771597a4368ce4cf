"""A gateway killed mid-download resumes it with Range after a restart, losing nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.publisher import send_indication, update_available_indication
from emulator.publisher.server import AccessRecord, create_app
from gateway.config import load_config
from gateway.store import GatewayStore, ImageState
from tests.conftest import TestKeys, small_bundle_spec
from tests.integration.intake.conftest import sha256_of
from tests.integration.intake.gatewaykit import (
    SOURCE_PASSWORD,
    SOURCE_USER,
    free_port,
    listener_url,
    write_config,
)
from tests.support.waiting import accepts_connections, wait_until
from tests.support.wsgi import serving

REPO = Path(__file__).resolve().parents[3]
PAUSE_PER_BLOCK_S = 0.004  # ~2 MB/s: slow enough to kill the gateway mid-download


def _throttled(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[
            bytes]:
        body = app(environ, start_response)
        try:
            for block in body:
                time.sleep(PAUSE_PER_BLOCK_S)
                yield block
        finally:
            if hasattr(body, "close"):
                body.close()
    return middleware


@pytest.fixture
def slow_site(bundle_factory: Callable[..., Path]) -> Iterator[tuple[Path, str, list[
        AccessRecord]]]:
    spec = small_bundle_spec()
    spec["packages"][0]["size"] = 3 * 1024 * 1024
    bundle = bundle_factory(spec, name="big.iso")
    log: list[AccessRecord] = []
    app = create_app({bundle.name: bundle}, log)
    app.wsgi_app = _throttled(app.wsgi_app)  # type: ignore[method-assign]
    with serving(app) as base_url:
        yield bundle, f"{base_url}/bundles/", log


def _serve(config: Path, log_file: Path) -> subprocess.Popen[bytes]:
    with open(log_file, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "lab.cli", "gateway", "serve",
                                 "--config", str(config)], cwd=REPO, stdout=log, stderr=log)


def test_killed_gateway_resumes_the_download_after_restart(
        tmp_path: Path, slow_site: tuple[Path, str, list[AccessRecord]],
        test_keys: TestKeys) -> None:
    bundle, base_url, access_log = slow_site
    sha = sha256_of(bundle)
    port = free_port()
    config_path = write_config(tmp_path, prefixes=[base_url], trusted_key=test_keys.public,
                               http_port=port)
    config = load_config(config_path)
    partial = config.cache_dir / ".partial" / f"{sha}.part"
    log_file = tmp_path / "gateway.log"

    first = _serve(config_path, log_file)
    try:
        wait_until(lambda: accepts_connections("127.0.0.1", port), 60,
                   describe=log_file.read_text)
        send_indication(listener_url(config), update_available_indication(
            image_uri=base_url + bundle.name, image_sha256=sha, bundle_id="test-bundle",
            release="test", identifier="restart-1"), user=SOURCE_USER, password=SOURCE_PASSWORD)
        wait_until(lambda: partial.exists() and partial.stat().st_size > 256 * 1024)
    finally:
        os.kill(first.pid, signal.SIGKILL)  # a crash: no chance to clean up
        first.wait()
    kept = partial.stat().st_size
    assert 0 < kept < bundle.stat().st_size

    store = GatewayStore.open(config.database_url)
    assert store.get_image(sha).state == ImageState.DOWNLOADING  # lease left behind

    second = _serve(config_path, log_file)
    try:
        wait_until(lambda: store.get_image(sha).state == ImageState.VERIFIED,
                   timeout_s=120, describe=log_file.read_text)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    verified = config.cache_dir / f"{sha}.iso"
    assert verified.read_bytes() == bundle.read_bytes()
    resumed = [r for r in access_log if r.path.endswith(bundle.name) and r.range
               and r.range.startswith("bytes=") and r.range.endswith("-")]
    assert resumed, access_log
    start = int(resumed[-1].range.removeprefix("bytes=").rstrip("-"))  # type: ignore[union-attr]
    assert start >= kept and resumed[-1].status == 206
    # The restarted gateway did not fetch the whole image again.
    full_gets = [r for r in access_log if r.path.endswith(bundle.name) and r.range is None]
    assert len(full_gets) == 1
    assert [a.indication_identifier for a in store.list_alerts()] == ["restart-1"]
