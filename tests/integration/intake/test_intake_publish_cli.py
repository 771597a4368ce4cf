"""`fleetflash publish` against a running gateway: announce, ManifestURI, withdraw, HTTPS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from emulator.publisher import send_indication, update_available_indication
from emulator.publisher.cli import publish
from gateway.store import Decision, ImageState
from lab.cli import main
from tests.conftest import TestKeys
from tests.integration.intake.conftest import PublishedBundle
from tests.integration.intake.gatewaykit import (
    SOURCE_PASSWORD,
    SOURCE_USER,
    free_port,
    listener_url,
    running_gateway,
    write_config,
)
from tests.support.tls import write_self_signed
from tests.support.waiting import wait_until


def test_publish_command_announces_and_withdraws(tmp_path: Path, bundle_site: PublishedBundle,
                                                 test_keys: TestKeys) -> None:
    config = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                          trusted_key=test_keys.public)
    runner = CliRunner()
    with running_gateway(config) as gateway:
        url = listener_url(gateway.config)
        result = runner.invoke(main, [
            "publish", str(bundle_site.path), "--gateway", url, "--user", SOURCE_USER,
            "--base-url", bundle_site.server.base_url, "--manifest-uri"],
            env={"FLEETFLASH_PUBLISH_PASSWORD": SOURCE_PASSWORD})
        assert result.exit_code == 0, result.output
        assert bundle_site.sha256 in result.output
        wait_until(lambda: gateway.store.get_image(bundle_site.sha256).state
                   == ImageState.VERIFIED)
        first = gateway.store.list_alerts(1)[0]
        assert first.manifest_uri == bundle_site.url + ".manifest.json"
        assert first.learned_manifest is not None and "test-bundle" in first.learned_manifest

        result = runner.invoke(publish, ["--withdraw", "test-bundle", "--sha256",
                                         bundle_site.sha256, "--gateway", url, "--user",
                                         SOURCE_USER, "--password", SOURCE_PASSWORD])
        assert result.exit_code == 0, result.output
        assert gateway.store.get_image(bundle_site.sha256).state == ImageState.WITHDRAWN
        assert gateway.store.list_alerts(1)[0].decision == Decision.WITHDRAWN

        result = runner.invoke(publish, ["--withdraw", "test-bundle", "--sha256", "f" * 64,
                                         "--gateway", url, "--user", SOURCE_USER,
                                         "--password", SOURCE_PASSWORD])
        assert result.exit_code == 1 and "not known" in result.output


def test_publish_reports_refusal_clearly(tmp_path: Path, bundle_site: PublishedBundle,
                                         test_keys: TestKeys) -> None:
    config = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                          trusted_key=test_keys.public)
    with running_gateway(config) as gateway:
        result = CliRunner().invoke(publish, [
            str(bundle_site.path), "--gateway", listener_url(gateway.config), "--user",
            SOURCE_USER, "--password", "wrong", "--base-url", bundle_site.server.base_url])
    assert result.exit_code == 1
    assert "401" in result.output and "Traceback" not in result.output
    assert "wrong" not in result.output.replace("wrong credentials", "")


def test_cli_raise_and_alerts_list(tmp_path: Path, bundle_site: PublishedBundle,
                                   test_keys: TestKeys) -> None:
    config = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                          trusted_key=test_keys.public)
    runner = CliRunner()
    args = ["alerts", "raise", "--config", str(config), "--source", "acme", "--image-uri",
            bundle_site.url, "--sha256", bundle_site.sha256, "--bundle-id", "test-bundle",
            "--release", "test"]
    with running_gateway(config) as gateway:
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and "accepted" in result.output, result.output
        wait_until(lambda: gateway.cache.verified_path(bundle_site.sha256) is not None)
        again = runner.invoke(main, args)
        assert again.exit_code == 0 and "duplicate" in again.output
    refused = runner.invoke(main, [*args[:-4], "--bundle-id", "b", "--release", "r",
                                   "--image-uri", "http://elsewhere.example/x.iso"])
    assert refused.exit_code == 1 and "outside" in refused.output
    listing = runner.invoke(main, ["alerts", "list", "--config", str(config)])
    assert listing.exit_code == 0
    assert listing.output.count("cli:") >= 3 and "rejected" in listing.output



def test_alert_over_https_is_accepted(tmp_path: Path, bundle_site: PublishedBundle,
                                      test_keys: TestKeys,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override an explicit CA file; the test wants its own CA.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    cert, key = write_self_signed(tmp_path, "gw")
    https_port = free_port()
    config = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                          trusted_key=test_keys.public)
    text = config.read_text().replace(
        "max_body_bytes", f'https = "127.0.0.1:{https_port}"\ncertfile = "{cert}"\n'
                          f'keyfile = "{key}"\nmax_body_bytes')
    config.write_text(text)
    with running_gateway(config) as gateway, socket.create_connection(
            ("127.0.0.1", https_port)):
        # A client that connects and never starts TLS must not stall other senders.
        send_indication(f"https://127.0.0.1:{https_port}", update_available_indication(
            image_uri=bundle_site.url, image_sha256=bundle_site.sha256,
            bundle_id="test-bundle", release="test", identifier="tls-1"),
            user=SOURCE_USER, password=SOURCE_PASSWORD, ca_certs=str(cert))
        assert gateway.store.list_alerts(1)[0].indication_identifier == "tls-1"
        wait_until(lambda: gateway.cache.verified_path(bundle_site.sha256) is not None)


def test_gateway_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["gateway", "serve", "--config", str(tmp_path / "no.toml")])
    assert missing.exit_code == 1 and "cannot read config file" in missing.output
    assert "Traceback" not in missing.output
    hashed = runner.invoke(main, ["gateway", "hash-password", "--password", "s3cret"])
    assert hashed.exit_code == 0 and hashed.output.startswith("pbkdf2_sha256$")
    assert "s3cret" not in hashed.output


def test_cli_withdraw_marks_the_image(tmp_path: Path, bundle_site: PublishedBundle,
                                      test_keys: TestKeys) -> None:
    config = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                          trusted_key=test_keys.public)
    runner = CliRunner()
    raised = runner.invoke(main, ["alerts", "raise", "--config", str(config), "--source", "acme",
                                  "--image-uri", bundle_site.url, "--sha256",
                                  bundle_site.sha256, "--bundle-id", "test-bundle",
                                  "--release", "test"])
    assert raised.exit_code == 0, raised.output
    withdrawn = runner.invoke(main, ["alerts", "withdraw", "--config", str(config), "--source",
                                     "acme", "--bundle-id", "test-bundle", "--sha256",
                                     bundle_site.sha256])
    assert withdrawn.exit_code == 0 and "withdrawn" in withdrawn.output
    images = runner.invoke(main, ["gateway", "images", "--config", str(config)])
    assert images.exit_code == 0 and "withdrawn" in images.output


def test_publish_serves_until_terminated(tmp_path: Path, bundle_site: PublishedBundle,
                                         test_keys: TestKeys) -> None:
    serve_port = free_port()
    config = write_config(tmp_path, prefixes=[f"http://127.0.0.1:{serve_port}/bundles/"],
                          trusted_key=test_keys.public)
    with running_gateway(config) as gateway:
        publisher = subprocess.Popen(
            [sys.executable, "-m", "lab.cli", "publish", str(bundle_site.path), "--gateway",
             listener_url(gateway.config), "--user", SOURCE_USER, "--serve-port",
             str(serve_port)], env={**os.environ, "FLEETFLASH_PUBLISH_PASSWORD": SOURCE_PASSWORD},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: gateway.cache.verified_path(bundle_site.sha256)
                       is not None, timeout_s=60)
        finally:
            publisher.send_signal(signal.SIGTERM)
            output, _ = publisher.communicate(timeout=60)
    assert publisher.returncode == 0, output
    assert b"stopped serving" in output and bundle_site.sha256.encode() in output
