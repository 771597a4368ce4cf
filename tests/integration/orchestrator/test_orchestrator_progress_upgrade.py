"""A gateway upgraded in the middle of a rollout resumes from the run progress its
previous release stored (JSON without a version, gateway.store.run_progress) and
does not ask a BMC for a second update.

The row is the one the previous release wrote when it crashed in DELIVER right after
the SimpleUpdate request: ``{"update_intent": ..., "epoch": ...}``. The resumed
gateway must read the intent, find the BMC's task started since then and follow it;
a gateway that lost the marker would send the update again."""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from pathlib import Path

import sqlalchemy as sa

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.firmware.engine import UPDATE_TASK_NAME
from emulator.publisher import BundleServer
from gateway.config import load_config
from gateway.service import Gateway, build_gateway
from gateway.store import utcnow
from gateway.store.campaign_tables import NodeRunRow
from gateway.store.database import create_engine
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.conftest import Rollout
from tests.integration.orchestrator.rig import (
    TARGET_VERSIONS,
    TEST_MODEL,
    flash_counts,
    power_on,
    write_gateway_config,
)
from tests.support.waiting import wait_until


def _start(config_path: Path, stack: ExitStack) -> Gateway:
    gateway = build_gateway(load_config(config_path), worker_poll_interval=0.2)
    gateway.start()
    stack.callback(gateway.stop)
    return gateway


def test_a_row_of_the_previous_release_resumes_without_a_second_update(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    with ExitStack() as stack:
        emulated = stack.enter_context(EmulatedCluster(
            nodes=[NodeSpec(model=TEST_MODEL)], trusted_keys=[test_keys.public],
            flash_seconds=0.1, reset_seconds=0.1, bmc_restart_seconds=0.3))
        power_on(emulated)
        (bmc,) = emulated.bmcs
        bundle = bundle_factory(name="fleet-test.iso")
        publisher = stack.enter_context(BundleServer([bundle]))
        config_path = write_gateway_config(
            tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=lambda _n: "all", groups={"all": 1},
            cluster={"delivery": ["simple_update"]})
        bmc.faults.set("task_hangs")  # the update stays under way across the upgrade

        # The previous release, as far as the BMC is concerned: it sent the update.
        first = ExitStack()
        rig = Rollout(emulated, _start(config_path, first),
                      hashlib.sha256(bundle.read_bytes()).hexdigest(), bundle, publisher)
        rig.announce()
        campaign_id = rig.campaign_id()
        store = rig.service.store
        wait_until(lambda: store.run(campaign_id, bmc.id).progress.task is not None, 60,
                   describe=lambda: store.run(campaign_id, bmc.id))
        sent = store.run(campaign_id, bmc.id).progress
        assert sent.update_intent is not None and sent.epoch
        first.close()  # the gateway stops for the upgrade

        # What the previous release had stored had it crashed just after the request.
        engine = create_engine(load_config(config_path).database_url)
        with engine.begin() as connection:
            connection.execute(sa.update(NodeRunRow).where(
                NodeRunRow.campaign_id == campaign_id, NodeRunRow.node_id == bmc.id,
            ).values(step="deliver", step_started_at=utcnow(), next_action_at=utcnow(),
                     progress=json.dumps({"update_intent": sent.update_intent.isoformat(),
                                          "epoch": sent.epoch})))
        engine.dispose()

        upgraded = Rollout(emulated, _start(config_path, stack), rig.sha256, bundle,
                           publisher)
        store = upgraded.service.store
        # The task still hangs: a second update request would be refused (409) and the
        # node could not get on. Found through the old marker, it is followed instead.
        wait_until(lambda: store.run(campaign_id, bmc.id).step == "monitor", 60,
                   describe=lambda: store.run(campaign_id, bmc.id))
        followed = store.run(campaign_id, bmc.id).progress
        bmc.faults.clear("task_hangs")
        assert upgraded.wait_state(campaign_id, "completed") == "completed"
        run = store.run(campaign_id, bmc.id)

    (update,) = [t for t in bmc.tasks.all() if t.name == UPDATE_TASK_NAME]
    assert followed.task is not None and followed.task.rstrip("/").rsplit("/", 1)[-1] \
        == update.id
    # A new intent is marked only right before a new request is sent: none was.
    assert followed.update_intent == sent.update_intent
    # Each component written once, nothing failed, the node on target and done.
    audit = emulated.audit.records()
    assert set(flash_counts(audit).values()) == {1}
    assert not [r for r in audit if r["event"] == "flash_failed"]
    assert bmc.firmware.installed() == TARGET_VERSIONS and run.step == "done"
