"""Fixtures: an emulated cluster, the published small test bundle, and a running gateway
(the real `build_gateway` composition root) configured for the emulated BMCs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.publisher import BundleServer
from emulator.quirks import Quirks, parse_quirks
from gateway.config import load_config
from gateway.orchestrator import CampaignService, Orchestrator
from gateway.orchestrator.reports import NodeReport
from gateway.service import Gateway, build_gateway
from gateway.store import ImageState
from gateway.store.campaign_records import RunRecord
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import (
    TARGET_VERSIONS,
    TEST_MODEL,
    flash_counts,
    power_on,
    write_gateway_config,
)
from tests.support.waiting import wait_until

FINISHED = ("done", "not_applicable", "skipped", "failed", "quarantined")


@dataclass
class Rollout:
    """A running rig. ``service`` is what the API calls; ``sha256`` the published image."""

    emulated: EmulatedCluster
    gateway: Gateway
    sha256: str
    bundle: Path
    publisher: BundleServer
    audit_from: int = 0  # audit records before this index are the rig's own (power-on)

    @property
    def service(self) -> CampaignService:
        assert self.gateway.orchestration is not None
        return self.gateway.orchestration.service

    @property
    def orchestrator(self) -> Orchestrator:
        assert self.gateway.orchestration is not None
        return self.gateway.orchestration.orchestrator

    def audit(self) -> list[dict[str, Any]]:
        """What happened to the BMCs since the gateway started."""
        return self.emulated.audit.records()[self.audit_from:]

    def announce(self) -> None:
        """Raise the update alert, as a publisher would, and wait for the image to verify."""
        outcome = self.gateway.intake.raise_alert(
            source="acme", image_uri=self.publisher.url_for(self.bundle),
            image_sha256=self.sha256, bundle_id="test-bundle", release="test")
        assert not outcome.refused, outcome.reason
        wait_until(lambda: self.gateway.store.get_image(self.sha256).state
                   is ImageState.VERIFIED, 60)

    def campaign_id(self) -> str:
        wait_until(lambda: bool(self.service.list_campaigns()), 60)
        return self.service.list_campaigns()[0].id

    def wait_state(self, campaign_id: str, *states: str, timeout: float = 90) -> str:
        wait_until(lambda: self.service.show(campaign_id).campaign.state in states,
                   timeout, describe=lambda: self.service.report(campaign_id).to_json())
        return self.service.show(campaign_id).campaign.state

    def finished_nodes(self) -> dict[str, NodeReport]:
        """Once every node of the campaign has finished: node id -> its report."""
        campaign_id = self.campaign_id()
        assert wait_until(lambda: all(r.step in FINISHED
                                      for r in self.service.show(campaign_id).runs), 120), \
            self.service.report(campaign_id).to_json()
        return {r.node_id: r for r in self.service.report(campaign_id).nodes}

    def all_done_once(self, method: str) -> None:
        """Every node done by ``method``, versions read back at target, one flash each."""
        nodes = self.finished_nodes()
        for node_id, node in nodes.items():
            assert node.outcome == "done", (node_id, node.outcome, node.error)
            assert node.method == method
            assert node.after_versions == TARGET_VERSIONS
            assert self.emulated.bmc(node_id).firmware.installed() == TARGET_VERSIONS
        counts = flash_counts(self.audit())
        assert len(counts) == 3 * len(nodes) and set(counts.values()) == {1}, counts

    def quarantined_canary(self, campaign_id: str) -> RunRecord:
        """The canary's run once it is quarantined (or partial: some of its components
        changed): a failed campaign records its state a moment before the canary's run
        reaches its last step."""
        (canary,) = self.service.show(campaign_id).campaign.canaries
        wait_until(lambda: self.service.store.run(campaign_id, canary).step in (
            "quarantined", "partial"), 30)
        return self.service.store.run(campaign_id, canary)


RolloutFactory = Callable[..., Rollout]


def start_rollout(stack: ExitStack, directory: Path, test_keys: TestKeys,
                  bundle_factory: BundleFactory, *, models: list[str] | None = None,
                  groups: dict[str, int] | None = None,
                  group_of: Callable[[str], str] | None = None,
                  cluster: dict[str, Any] | None = None,
                  timeouts: dict[str, float] | None = None,
                  orchestrator: dict[str, Any] | None = None,
                  source: dict[str, Any] | None = None,
                  flash_seconds: float = 0.1, reset_seconds: float = 0.1,
                  quirks: Sequence[str] | Quirks = (), **config: Any) -> Rollout:
    """Start a rig whose servers and gateway ``stack`` stops; its gateway's config and
    state live in ``directory`` (see the ``rollout`` fixture for the keywords)."""
    node_models = models or [TEST_MODEL] * 4
    emulated = stack.enter_context(EmulatedCluster(
        nodes=[NodeSpec(model=m, quirks=quirks if isinstance(quirks, Quirks)
                        else parse_quirks(quirks)) for m in node_models],
        trusted_keys=[test_keys.public], flash_seconds=flash_seconds,
        reset_seconds=reset_seconds,
        bmc_restart_seconds=0.3))
    power_on(emulated)
    bundle = bundle_factory(name="fleet-test.iso")
    publisher = stack.enter_context(BundleServer([bundle]))
    config_path = write_gateway_config(
        directory, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
        bmcs=emulated.inventory, group_of=group_of or (lambda _n: "all"),
        groups=groups or {"all": 2}, cluster=cluster, timeouts=timeouts,
        orchestrator=orchestrator, source=source, **config)
    gateway = build_gateway(load_config(config_path), worker_poll_interval=0.2)
    gateway.start()
    stack.callback(gateway.stop)
    sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
    return Rollout(emulated, gateway, sha, bundle, publisher,
                   len(emulated.audit.records()))


@pytest.fixture
def rollout(tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory
            ) -> Iterator[RolloutFactory]:
    """Start a rig: ``rollout(models=[...], group_of=fn, groups={...}, cluster={...})``;
    ``source``: further keys of the publisher's [[sources]] table; ``quirks``: vendor
    quirks of every BMC (emulator/quirks.py); further keywords (``qos_classes``,
    ``qos_of``) go to write_gateway_config."""
    with ExitStack() as stack:
        def start(**kw: Any) -> Rollout:
            return start_rollout(stack, tmp_path, test_keys, bundle_factory, **kw)

        yield start
