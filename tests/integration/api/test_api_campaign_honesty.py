"""A campaign that could not reach every node never says `completed`: with no BMC answering
it fails ("nothing could be done"), with some not answering it completes with exclusions;
the reason names the inventory, `campaigns watch` exits non-zero, and once the BMCs answer
again the same image is started again on the cluster and completes."""

from __future__ import annotations

import requests
from click.testing import CliRunner

from lab.cli import main
from tests.integration.api.conftest import LiveFactory, LiveGateway
from tests.integration.orchestrator.rig import TARGET_VERSIONS, wait_for

TERMINAL = ("completed", "completed_with_exclusions", "failed", "aborted")


def _get(live: LiveGateway, path: str) -> requests.Response:
    return requests.get(live.url + path, timeout=10,
                        headers={"Authorization": f"Bearer {live.tokens['viewer']}"})


def _post(live: LiveGateway, path: str, body: dict[str, object]) -> requests.Response:
    return requests.post(live.url + path, json=body, timeout=30,
                         headers={"Authorization": f"Bearer {live.tokens['operator']}"})


def _announce(live: LiveGateway) -> str:
    raised = _post(live, "/api/alerts", {
        "source": "acme", "image_uri": live.image_uri, "sha256": live.sha256,
        "bundle_id": "test-bundle", "release": "test"})
    assert raised.status_code == 201, raised.text
    assert wait_for(lambda: _get(live, "/api/campaigns").json()["total"] == 1, 90)
    return str(_get(live, "/api/campaigns").json()["items"][0]["id"])


def _watch(live: LiveGateway, campaign_id: str) -> tuple[int, str]:
    watched = CliRunner().invoke(main, ["campaigns", "watch", campaign_id, "--interval",
                                        "0.2", "--api-url", live.url],
                                 env={"FLEETFLASH_TOKEN": live.tokens["viewer"]})
    return watched.exit_code, watched.output


def _ended(live: LiveGateway, campaign_id: str) -> dict[str, object]:
    assert wait_for(lambda: _get(live, f"/api/campaigns/{campaign_id}").json()["state"]
                    in TERMINAL, 120)
    detail: dict[str, object] = _get(live, f"/api/campaigns/{campaign_id}").json()
    return detail


def test_no_bmc_answering_fails_the_campaign_and_the_image_can_be_retried(
        live_gateway: LiveFactory) -> None:
    live = live_gateway(nodes=3, flash_seconds=0.1, cluster={"autonomy": "auto_approve"})
    for bmc in live.emulated.bmcs:
        bmc.faults.set("unreachable")
    first = _announce(live)
    detail = _ended(live, first)
    assert detail["state"] == "failed", detail
    reason = str(detail["reason"])
    assert reason.startswith("nothing could be done: inventory: 0 of 3 BMCs answered"), reason
    assert detail["exclusions"] == [reason.removeprefix("nothing could be done: ")]
    code, output = _watch(live, first)
    assert code == 1, output
    assert "ended: failed" in output and "0 of 3 BMCs answered" in output

    # The BMCs answer again: the same image is started again on the cluster.
    for bmc in live.emulated.bmcs:
        bmc.faults.clear()
    retried = _post(live, "/api/campaigns", {"image_sha256": live.sha256, "cluster": "lab"})
    assert retried.status_code == 201, retried.text
    second = retried.json()["id"]
    assert second != first
    # While it runs, a third start is refused: one open campaign per image and cluster.
    if _get(live, f"/api/campaigns/{second}").json()["state"] not in TERMINAL:
        again = _post(live, "/api/campaigns", {"image_sha256": live.sha256, "cluster": "lab"})
        assert again.status_code == 409, again.text
    code, output = _watch(live, second)
    assert code == 0, output
    assert f"campaign {second} ended: completed" in output
    for bmc in live.emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS
    # The first campaign keeps its own outcome and reason.
    assert _get(live, f"/api/campaigns/{first}").json()["reason"] == reason


def test_a_bmc_not_answering_completes_with_exclusions(live_gateway: LiveFactory) -> None:
    live = live_gateway(nodes=3, flash_seconds=0.1, cluster={"autonomy": "auto_approve"})
    # Alone in its redundancy group: a node of unknown health uses its group's allowance.
    silent = live.emulated.bmcs[1]
    silent.faults.set("unreachable")
    campaign_id = _announce(live)
    detail = _ended(live, campaign_id)
    assert detail["state"] == "completed_with_exclusions", detail
    assert detail["counts"] == {"done": 2}
    (line,) = detail["exclusions"]  # type: ignore[misc]
    assert line.startswith(f"inventory: 2 of 3 BMCs answered ({silent.id}: "), line
    assert "every node finished (2 done); not covered: inventory: 2 of 3" in str(
        detail["reason"])
    code, output = _watch(live, campaign_id)
    assert code == 3, output
    assert "ended: completed_with_exclusions" in output and "not covered: inventory" in output
    assert silent.firmware.installed()["BMC"] == "1.0.0"
