"""The API over HTTPS with a certificate from the config, and the CLI against it:
tokens are created on the database, the other commands talk to the running gateway."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from click.testing import CliRunner

from lab.cli import main
from tests.integration.api.conftest import LiveFactory
from tests.support.tls import write_self_signed


def test_https_api_and_cli(live_gateway: LiveFactory, tmp_path: Path) -> None:
    cert, key = write_self_signed(tmp_path, "api", common_name="gateway.test")
    live = live_gateway(nodes=2, flash_seconds=0.2,
                        api_extra=f'certfile = "{cert}"\nkeyfile = "{key}"')
    assert live.url.startswith("https://127.0.0.1:")
    admin = {"Authorization": f"Bearer {live.tokens['admin']}"}
    # Without the certificate the client refuses the connection: no silent downgrade.
    try:
        requests.get(live.url + "/healthz", timeout=10)
    except requests.exceptions.SSLError:
        pass
    else:
        raise AssertionError("an unverified certificate was accepted")
    assert requests.get(live.url + "/healthz", verify=str(cert), timeout=10).json() == {
        "status": "ok", "database": "ok"}
    assert requests.get(live.url + "/api/bmcs", verify=str(cert), timeout=10,
                        headers=admin).status_code == 200
    bmcs = requests.get(live.url + "/api/bmcs", verify=str(cert), timeout=10,
                        headers=admin).json()["items"]
    passwords = [b["password"] for b in live.emulated.inventory]
    assert bmcs and all(b["credentials_set"] for b in bmcs)
    assert not any(p in repr(bmcs) for p in passwords)  # never returned

    runner = CliRunner()
    config = str(live.gateway.config.path)
    created = runner.invoke(main, ["tokens", "create", "robot", "--role", "operator",
                                   "--config", config])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("ff_")
    listed = runner.invoke(main, ["tokens", "list", "--config", config])
    assert "robot" in listed.output and secret not in listed.output

    env = {"FLEETFLASH_TOKEN": secret, "FLEETFLASH_API_URL": live.url,
           "FLEETFLASH_CA_CERT": str(cert)}
    raised = runner.invoke(main, ["alerts", "raise", "--config", config, "--source", "acme",
                                  "--image-uri", live.image_uri, "--sha256", live.sha256,
                                  "--bundle-id", "test-bundle", "--release", "test"])
    assert raised.exit_code == 0, raised.output
    alerts = runner.invoke(main, ["alerts", "list"], env=env)
    assert alerts.exit_code == 0, alerts.output
    assert f"cli:{live.sha256}" in alerts.output and "accepted" in alerts.output
    from_db = runner.invoke(main, ["alerts", "list", "--config", config])
    assert "accepted" in from_db.output
    for listing in (alerts.output, from_db.output):  # the channel has its own column
        assert "channel" in listing and re.search(r"│ cli +│", listing), listing
    images = runner.invoke(main, ["images", "list"], env=env)
    assert images.exit_code == 0 and live.sha256[:16] in images.output
    nodes = runner.invoke(main, ["nodes", "list"], env=env)
    assert nodes.exit_code == 0 and "bmc-0000" in nodes.output and "bmc-0001" in nodes.output

    from tests.support.waiting import wait_until

    def listed_campaigns() -> str:
        return runner.invoke(main, ["campaigns", "list"], env=env).output

    wait_until(lambda: "pending_approval" in listed_campaigns(), 90)
    campaign_id = live.gateway.orchestration.service.list_campaigns()[0].id  # type: ignore[union-attr]
    shown = runner.invoke(main, ["campaigns", "show", campaign_id], env=env)
    assert shown.exit_code == 0 and "Canary wave" in shown.output
    resumed = runner.invoke(main, ["campaigns", "resume", campaign_id], env=env)
    assert resumed.exit_code == 1 and "409" in resumed.output
    assert "pending_approval" in resumed.output
    approved = runner.invoke(main, ["campaigns", "approve", campaign_id, "--reason", "ok"],
                             env=env)
    assert approved.exit_code == 0 and "running" in approved.output
    retried = runner.invoke(main, ["nodes", "retry", campaign_id, "bmc-0001"], env=env)
    assert retried.exit_code == 1 and "409" in retried.output

    revoked = runner.invoke(main, ["tokens", "revoke", "robot", "--config", config])
    assert revoked.exit_code == 0
    refused = runner.invoke(main, ["campaigns", "list"], env=env)
    assert refused.exit_code == 1 and "401" in refused.output
    bad_token = runner.invoke(main, ["images", "list"], env={**env, "FLEETFLASH_TOKEN": "x"})
    assert bad_token.exit_code == 1 and "401" in bad_token.output
