"""A BMC whose task monitor answers nonsense (a JSON document cut short) on every poll:
the node does not loop on it, it fails at once, is made safe, its versions are read
back, and its report quotes what the BMC said. A real `fleetflash gateway serve`, a
real emulated BMC behind a real loopback proxy (tests/support/garbage_proxy.py)."""

from __future__ import annotations

from pathlib import Path

from gateway.store.campaign_records import RunRecord
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    emulated_rollout,
    named_bundle,
    one_gateway_campaign,
    write_gateway_config,
)
from tests.support.garbage_proxy import Garbage, GarbageProxy
from tests.support.waiting import wait_until
from tests.support.wsgi import serving

CUT_SHORT = b'{"TaskState": "Running", "PercentComplete": 5, "Messages": ['
SIMPLE_UPDATE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
ERROR_PAGE = (b'<html><title>Internal error</title><body>session {"X-Auth-Token": "hunter2"}'
              + b" at frame " * 300 + b"</body></html>")


def _run_against(garbage: Garbage, ends: tuple[str, ...], tmp_path: Path,
                 test_keys: TestKeys, bundle_factory: BundleFactory) -> RunRecord:
    """One node's campaign (SimpleUpdate) through a proxy answering ``garbage``; the
    node's run once it has reached one of the steps ``ends``."""
    bundle, sha = named_bundle(bundle_factory, "fleet-garbage.iso")
    with emulated_rollout(test_keys, bundle, 1, flash_seconds=0.2,
                          reset_seconds=0.1) as (emulated, publisher, _audit_from):
        (node,) = emulated.inventory
        proxy = GarbageProxy(node["url"])
        proxy.garbage = garbage
        with serving(proxy) as url:
            config_path = write_gateway_config(
                tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
                bmcs=[{**node, "url": url}], group_of=lambda _n: "all", groups={"all": 1},
                cluster={"delivery": ["simple_update"]},
                orchestrator={"activation_settle_s": 2})
            with one_gateway_campaign(config_path, publisher, bundle, sha) as (
                    _gateway, campaigns, campaign_id):
                assert wait_until(lambda: campaigns.runs(campaign_id)[0].step
                                  in ends, 120), \
                    campaigns.runs(campaign_id)
                (run,) = campaigns.runs(campaign_id)
    return run


def test_a_task_monitor_answering_nonsense_fails_the_node_quoting_it(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    run = _run_against(Garbage("/redfish/v1/TaskService/TaskMonitors/", 200, CUT_SHORT,
                               (("Content-Type", "application/json"),)),
                       ("quarantined", "partial"), tmp_path, test_keys, bundle_factory)
    assert run.error.startswith("monitor: reading task /redfish/v1/TaskService/TaskMonitors/")
    assert "the BMC's answer is not JSON" in run.error
    assert repr(CUT_SHORT.decode()) in run.error, run.error
    assert run.after_versions, run.error  # read back, whatever the update did meanwhile


def test_an_update_request_answered_with_an_error_page_fails_the_node_quoting_it(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    run = _run_against(Garbage(SIMPLE_UPDATE, 500, ERROR_PAGE, (("Content-Type", "text/html"),),
                               "POST"), ("failed", "quarantined", "partial"),
                       tmp_path, test_keys, bundle_factory)
    assert "HTTP 500, not a Redfish error document: '<html><title>Internal error" in \
        run.error, run.error
    assert "hunter2" not in run.error and "Traceback" not in run.error, run.error
