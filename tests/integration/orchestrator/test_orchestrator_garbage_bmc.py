"""A BMC whose task monitor answers nonsense (a JSON document cut short) on every poll:
the node does not loop on it, it fails at once, is made safe, its versions are read
back, and its report quotes what the BMC said. A real `fleetflash gateway serve`, a
real emulated BMC behind a real loopback proxy (tests/support/garbage_proxy.py)."""

from __future__ import annotations

from pathlib import Path

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


def test_a_task_monitor_answering_nonsense_fails_the_node_quoting_it(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    bundle, sha = named_bundle(bundle_factory, "fleet-garbage.iso")
    with emulated_rollout(test_keys, bundle, 1, flash_seconds=0.2,
                          reset_seconds=0.1) as (emulated, publisher, _audit_from):
        (node,) = emulated.inventory
        proxy = GarbageProxy(node["url"])
        proxy.garbage = Garbage("/redfish/v1/TaskService/TaskMonitors/", 200, CUT_SHORT,
                                (("Content-Type", "application/json"),))
        with serving(proxy) as url:
            config_path = write_gateway_config(
                tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
                bmcs=[{**node, "url": url}], group_of=lambda _n: "all", groups={"all": 1},
                cluster={"delivery": ["simple_update"]},
                orchestrator={"activation_settle_s": 2})
            with one_gateway_campaign(config_path, publisher, bundle, sha) as (
                    _gateway, campaigns, campaign_id):
                assert wait_until(lambda: campaigns.runs(campaign_id)[0].step
                                  in ("quarantined", "partial"), 120), \
                    campaigns.runs(campaign_id)
                (run,) = campaigns.runs(campaign_id)
    assert run.error.startswith("monitor: reading task /redfish/v1/TaskService/TaskMonitors/")
    assert "the BMC's answer is not JSON" in run.error
    assert repr(CUT_SHORT.decode()) in run.error, run.error
    assert run.after_versions, run.error  # read back, whatever the update did meanwhile
