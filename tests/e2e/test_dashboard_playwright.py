"""The dashboard in a real browser (Debian's chromium, driven by Playwright): an operator
logs in, approves a campaign on an emulated cluster, pauses and resumes it, and watches it
finish; the alert log shows the trust decision; the campaign's timeline grows while it runs
and the HTML report draws the same chart. Screenshots go to test-artifacts/ and the
README's docs/images/dashboard.png."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lab.cli import main
from tests.conftest import REPO_ROOT
from tests.integration.api.conftest import (
    LiveFactory,
    LiveGateway,
    live_gateway,  # noqa: F401  (fixture)
)
from tests.support.waiting import wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO_ROOT / "test-artifacts"
README_SCREENSHOT = REPO_ROOT / "docs" / "images" / "dashboard.png"
# Hang guards for the browser's waits, not speed assertions.
STEP_TIMEOUT_MS = 30_000
CAMPAIGN_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _campaign_id(live: LiveGateway) -> str:
    def listed() -> list[dict[str, str]]:
        response = requests.get(f"{live.url}/api/campaigns", timeout=10,
                                headers={"Authorization": f"Bearer {live.tokens['viewer']}"})
        return list(response.json()["items"])

    wait_until(lambda: bool(listed()), 90)
    return listed()[0]["id"]


def _log_in(page: Page, live: LiveGateway, role: str) -> None:
    page.goto(live.url + "/")
    expect(page).to_have_url(f"{live.url}/login?next=/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("API token").fill("ff_not-a-real-token-at-all")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown, malformed or revoked")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"login-{role}.png"))
    page.get_by_label("API token").fill(live.tokens[role])
    page.keyboard.press("Enter")  # the form works from the keyboard alone
    expect(page.get_by_role("heading", name="Clusters", exact=True)).to_be_visible()


def test_operator_watches_pauses_and_resumes_a_campaign(
        live_gateway: LiveFactory, browser: Browser) -> None:  # noqa: F811
    live = live_gateway(nodes=4, flash_seconds=1.5)
    outcome = live.gateway.intake.raise_alert(
        source="acme", image_uri=live.image_uri, image_sha256=live.sha256,
        bundle_id="test-bundle", release="2026.4-test")
    assert not outcome.refused, outcome.reason
    campaign_id = _campaign_id(live)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(STEP_TIMEOUT_MS)
    _log_in(page, live, "operator")
    expect(page.get_by_role("heading", name="lab")).to_be_visible()
    overview = page.locator("main")
    expect(overview).to_contain_text("FF-TEST")
    expect(overview).to_contain_text("BIOS")

    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name=campaign_id).click()
    state = page.locator("#campaign-state")
    expect(state).to_have_text("pending approval")
    expect(page.get_by_role("heading", name="Canary wave")).to_be_visible()

    page.get_by_role("button", name="Approve").click()
    expect(state).to_have_text("running")
    page.get_by_role("button", name="Pause").click()
    expect(state).to_have_text("paused")
    expect(page.get_by_role("status")).to_contain_text("Pause: done.")
    expect(page.get_by_role("button", name="Resume")).to_be_enabled()
    page.get_by_role("button", name="Resume").focus()
    page.keyboard.press("Enter")  # the actions work from the keyboard
    expect(state).to_have_text("running")

    # Live updates: the page refreshes itself, showing nodes mid-update, until all are done.
    in_flight = page.locator("tr[data-node] .step", has_text=re.compile(
        r"^(precheck|drain|deliver|monitor|reset|wait back|verify|eject|postcheck|undrain)$"))
    expect(in_flight.first).to_be_visible()
    expect(page.locator("progress[aria-label$='progress']").first).to_be_visible()
    expect(state).to_have_text("completed", timeout=CAMPAIGN_TIMEOUT_MS)
    expect(page.locator("main")).to_contain_text("4 of 4 nodes finished")
    steps = page.locator("tr[data-node] .step")
    expect(steps).to_have_count(4)
    for index in range(4):
        expect(steps.nth(index)).to_have_text("done")
    expect(page.get_by_role("button", name="Pause")).to_be_disabled()

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-campaign.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("FLEETFLASH_UPDATE_DOCS_SCREENSHOT"):
        # Refresh the README's picture only when asked, so `make test`
        # leaves the work tree clean.
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)

    page.get_by_role("link", name="Clusters").click()
    expect(page.locator("main")).to_contain_text("2.0.0")  # the new versions, per node
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)
    page.get_by_role("link", name="Alerts").click()
    row = page.locator("tr", has_text=f"cli:{live.sha256}")
    expect(row).to_contain_text("accepted")
    expect(row).to_contain_text("acme")
    page.get_by_role("link", name="Compliance").click()
    expect(page.locator("main")).to_contain_text("2026.4-test")

    # The audit log names the operator for every click.
    audit = requests.get(f"{live.url}/api/audit", timeout=10,
                         headers={"Authorization": f"Bearer {live.tokens['operator']}"}).json()
    assert [(e["actor"], e["action"]) for e in reversed(audit["items"])] == [
        ("operator-1", "campaign.approve"), ("operator-1", "campaign.pause"),
        ("operator-1", "campaign.resume")]
    page.close()


def test_a_viewer_sees_no_action_buttons_and_cannot_act(
        live_gateway: LiveFactory, browser: Browser) -> None:  # noqa: F811
    live = live_gateway(nodes=2, flash_seconds=0.2)
    live.gateway.intake.raise_alert(source="acme", image_uri=live.image_uri,
                                    image_sha256=live.sha256, bundle_id="test-bundle",
                                    release="test")
    campaign_id = _campaign_id(live)
    page = browser.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    _log_in(page, live, "viewer")
    page.goto(f"{live.url}/campaigns/{campaign_id}")
    expect(page.locator("#campaign-state")).to_have_text("pending approval")
    page.keyboard.press("Tab")  # keyboard users land on the skip link first
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    # Even a hand-made request from the page is refused for the viewer's role.
    status = page.evaluate(
        """url => fetch(url, {method: 'POST', headers: {'X-Requested-With': 'fleetflash',
           'Content-Type': 'application/json'}, body: '{}'}).then(r => r.status)""",
        f"/api/campaigns/{campaign_id}/approve")
    assert status == 403
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{live.url}/login")
    page.close()


def _bars(page: Page) -> int:
    return int(page.locator("svg#timeline rect.span").count())


def test_the_timeline_grows_while_a_campaign_runs_and_shows_how_it_ended(
        live_gateway: LiveFactory, browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    live = live_gateway(nodes=4, flash_seconds=1.0)
    live.gateway.intake.raise_alert(source="acme", image_uri=live.image_uri,
                                    image_sha256=live.sha256, bundle_id="test-bundle",
                                    release="2026.4-test")
    campaign_id = _campaign_id(live)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(STEP_TIMEOUT_MS)
    _log_in(page, live, "operator")
    page.goto(f"{live.url}/campaigns/{campaign_id}")
    chart = page.locator("svg#timeline")
    expect(chart).to_be_visible()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    assert _bars(page) == 0  # nothing started before the approval
    expect(chart.locator("text.wave", has_text="Not started")).to_have_count(1)

    page.get_by_role("button", name="Approve").click()
    # The running campaign's chart refreshes in place: the canary's first bars appear,
    # then more bars as nodes move through their steps, without reloading the page.
    page.wait_for_function("() => document.querySelectorAll('svg#timeline rect.span').length > 0",
                           timeout=STEP_TIMEOUT_MS)
    seen = _bars(page)
    page.wait_for_function(
        "n => document.querySelectorAll('svg#timeline rect.span').length > n", arg=seen,
        timeout=CAMPAIGN_TIMEOUT_MS)
    expect(chart.locator("text.wave", has_text="Canary wave")).to_have_count(1)

    expect(page.locator("#campaign-state")).to_have_text("completed",
                                                          timeout=CAMPAIGN_TIMEOUT_MS)
    rows = chart.locator("g.node")
    expect(rows).to_have_count(4)
    for index in range(4):
        expect(rows.nth(index)).to_have_attribute("data-outcome", "done")
        expect(rows.nth(index).locator("text.outcome")).to_have_text("done")
    for step in ("deliver", "verify"):
        expect(chart.locator(f"rect.span[data-step='{step}']")).to_have_count(4)
    expect(chart).to_have_attribute("data-state", "completed")
    usage = chart.locator("g.usage")
    expect(usage).to_have_count(2)  # the cluster's groups: even, odd
    for index in range(2):
        expect(usage.nth(index)).to_have_attribute("data-peak", "1")  # never over allowance
    bars = _bars(page)
    ARTIFACTS.mkdir(exist_ok=True)
    chart.screenshot(path=str(ARTIFACTS / "dashboard-timeline.png"))

    # The operator's report file draws the same chart, and needs nothing but itself.
    report = tmp_path / "report.html"
    written = CliRunner().invoke(main, ["campaigns", "report", campaign_id, "--html",
                                        str(report), "--api-url", live.url],
                                 env={"FLEETFLASH_TOKEN": live.tokens["viewer"]})
    assert written.exit_code == 0, written.output
    offline = browser.new_page()
    requested: list[str] = []
    offline.on("request", lambda request: requested.append(request.url))
    offline.goto(report.as_uri())
    expect(offline.get_by_role("heading", name=f"Campaign {campaign_id} on lab")).to_be_visible()
    expect(offline.locator("svg#timeline rect.span")).to_have_count(bars)
    expect(offline.locator("svg#timeline g.node[data-outcome='done']")).to_have_count(4)
    expect(offline.locator("table tbody tr")).to_have_count(4)
    assert requested == [report.as_uri()]  # no other file, no network
    offline.close()
    page.close()
