"""Publisher -> listener -> verified image in the cache, with the audit in `alerts list`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from emulator.publisher import send_indication, update_available_indication
from gateway.cli import alerts
from gateway.store import Decision, ImageState
from tests.conftest import TestKeys
from tests.integration.intake.conftest import PublishedBundle
from tests.integration.intake.gatewaykit import (
    SOURCE_PASSWORD,
    SOURCE_USER,
    listener_url,
    running_gateway,
    write_config,
)
from tests.support.waiting import wait_until


def test_published_bundle_becomes_verified_image_and_audit_is_listed(
        tmp_path: Path, bundle_site: PublishedBundle, test_keys: TestKeys) -> None:
    config_path = write_config(tmp_path, prefixes=[bundle_site.server.base_url],
                               trusted_key=test_keys.public)
    with running_gateway(config_path) as gateway:
        indication = update_available_indication(
            image_uri=bundle_site.url, image_sha256=bundle_site.sha256,
            bundle_id="test-bundle", release="test", identifier="acme-alert-1",
            description="three test packages")
        send_indication(listener_url(gateway.config), indication, user=SOURCE_USER,
                        password=SOURCE_PASSWORD)
        # The store says verified last (after the file is in the cache): wait for that.
        wait_until(lambda: gateway.store.get_image(bundle_site.sha256).state
                   == ImageState.VERIFIED)
        cached = gateway.cache.verified_path(bundle_site.sha256)
        assert cached is not None
        assert cached.read_bytes() == bundle_site.path.read_bytes()
        image = gateway.store.get_image(bundle_site.sha256)
        assert image.manifest_json is not None and '"test-bundle"' in image.manifest_json

    result = CliRunner().invoke(alerts, ["list", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert "acme-alert-1" in result.output
    assert "FWUP0001" in result.output
    assert Decision.ACCEPTED.value in result.output
