"""Insert the update key once, update the whole cluster: a key plugged into a gateway that
manages a small emulated cluster yields exactly one campaign, however often it is plugged."""

from __future__ import annotations

import hashlib
from pathlib import Path

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.usbkey import EmulatedKey
from gateway.config import load_config
from gateway.service import build_gateway
from gateway.store import Decision, ImageState
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import TEST_MODEL, write_gateway_config
from tests.integration.usb_intake.conftest import Plugger, key_image, usb_alerts
from tests.integration.usb_intake.usbkit import USB_SOURCE, usb_section
from tests.support.waiting import wait_until


def test_usb_key_creates_one_campaign_for_the_cluster(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory,
        plugger: Plugger) -> None:
    bundle = bundle_factory(name="fleet-usb.iso")
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    image_path = key_image(tmp_path, bundle, "fat-key")
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL)] * 2,
                         trusted_keys=[test_keys.public], flash_seconds=0.1,
                         reset_seconds=0.1, bmc_restart_seconds=0.3) as emulated:
        config_path = write_gateway_config(
            tmp_path, publisher_prefix="http://127.0.0.1:9/", trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=lambda _node: "all", groups={"all": 1},
            cluster={"autonomy": "require_approval"})
        with config_path.open("a") as config:
            config.write(usb_section(test_keys.public, tmp_path / "staging"))
        gateway = build_gateway(load_config(config_path), worker_poll_interval=0.2)
        gateway.start()
        try:
            assert gateway.orchestration is not None
            campaigns = gateway.orchestration.service
            first = plugger.plug(image_path)
            wait_until(lambda: len(campaigns.list_campaigns()) == 1, 60)
            [campaign] = campaigns.list_campaigns()
            assert campaign.image_sha256 == sha and campaign.cluster == "lab"
            assert campaign.bundle_id == "test-bundle"
            assert gateway.store.get_image(sha).source == USB_SOURCE

            plugger.bus.unplug(first)  # the same key, plugged in again
            plugger.plug(image_path, key=EmulatedKey(str(image_path), serial=first.serial))
            wait_until(lambda: len(usb_alerts(gateway.store)) == 2, 60)
            assert [a.decision for a in usb_alerts(gateway.store)] == [
                Decision.ACCEPTED, Decision.DUPLICATE]
            # The orchestrator's own creation pass finds nothing left to create.
            assert gateway.orchestration.orchestrator.creator.create_due() == []
            assert gateway.store.get_image(sha).state is ImageState.VERIFIED
            assert [c.id for c in campaigns.list_campaigns()] == [campaign.id]
            assert [i.sha256 for i in gateway.store.list_images()] == [sha]
        finally:
            gateway.stop()
