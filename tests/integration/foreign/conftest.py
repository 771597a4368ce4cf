"""Fixtures: foreign Redfish services (sushy-tools, DMTF's mockup server) on free loopback
ports, and a whole gateway pointed at them.

Read-only tests share one service per module; a test that changes a service (an update,
a campaign) gets its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.publisher import BundleServer
from gateway.config import load_config
from gateway.orchestrator import CampaignService
from gateway.orchestrator.reports import CampaignReport
from gateway.service import Gateway, build_gateway
from gateway.store import ImageState
from tests.conftest import BundleFactory, TestKeys
from tests.integration.foreign.services import (
    ForeignService,
    start_dmtf_mockup,
    start_sushy_fake,
    start_sushy_libvirt,
)
from tests.integration.orchestrator.rig import wait_for, write_gateway_config

# Campaign states after which nothing more happens.
TERMINAL = ("completed", "completed_with_exclusions", "failed", "aborted")
# Node outcomes that need no explanation: the versions were read back.
VERIFIED = ("done",)


def _service(tmp_path_factory: pytest.TempPathFactory, name: str,
             start: Callable[[Path], ForeignService]) -> Iterator[ForeignService]:
    service = start(tmp_path_factory.mktemp(name))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def sushy_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForeignService]:
    """sushy-tools, fake driver, three systems behind one root (read-only tests)."""
    yield from _service(tmp_path_factory, "sushy-fake", start_sushy_fake)


@pytest.fixture(scope="module")
def sushy_libvirt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForeignService]:
    """sushy-tools on libvirt test:///default (read-only tests)."""
    yield from _service(tmp_path_factory, "sushy-libvirt", start_sushy_libvirt)


@pytest.fixture(scope="module")
def rackmount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForeignService]:
    """DMTF's public-rackmount1 mockup on DMTF's mockup server (read-only tests)."""
    yield from _service(tmp_path_factory, "rackmount",
                        lambda d: start_dmtf_mockup(d, "public-rackmount1"))


@pytest.fixture(scope="module")
def bladed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForeignService]:
    """DMTF's public-bladed mockup: four blades behind one root (read-only tests)."""
    yield from _service(tmp_path_factory, "bladed",
                        lambda d: start_dmtf_mockup(d, "public-bladed"))


@pytest.fixture
def fresh_service(tmp_path: Path) -> Iterator[Callable[..., ForeignService]]:
    """``fresh_service(kind, edit=None)`` -> a private service for a test that changes it;
    kind is sushy-fake, sushy-libvirt, or a DMTF mockup name (public-rackmount1,
    public-bladed), whose private copy ``edit`` may change first."""
    started: list[ForeignService] = []

    def start(kind: str, edit: Callable[[Path], None] | None = None) -> ForeignService:
        workdir = tmp_path / f"{kind}-{len(started)}"
        workdir.mkdir()
        if kind == "sushy-fake":
            service = start_sushy_fake(workdir)
        elif kind == "sushy-libvirt":
            service = start_sushy_libvirt(workdir)
        else:
            service = start_dmtf_mockup(workdir, kind, edit)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


# -- a gateway pointed at foreign services ----------------------------------------------

@dataclass
class ForeignRig:
    """A running gateway whose one cluster "lab" is made of foreign BMCs."""

    gateway: Gateway
    publisher: BundleServer
    bundle: Path
    sha256: str
    bundle_id: str

    @property
    def service(self) -> CampaignService:
        assert self.gateway.orchestration is not None
        return self.gateway.orchestration.service

    def announce(self) -> None:
        """Raise the update alert as a publisher would; wait until the image verifies."""
        outcome = self.gateway.intake.raise_alert(
            source="acme", image_uri=self.publisher.url_for(self.bundle),
            image_sha256=self.sha256, bundle_id=self.bundle_id, release="test")
        assert not outcome.refused, outcome.reason
        assert wait_for(lambda: self.gateway.store.get_image(self.sha256).state
                        is ImageState.VERIFIED, 60)

    def campaign_id(self) -> str:
        assert wait_for(lambda: bool(self.service.list_campaigns()), 60), \
            "no campaign was created"
        return self.service.list_campaigns()[0].id

    def report(self, campaign_id: str) -> CampaignReport:
        return self.service.report(campaign_id)

    def wait_state(self, campaign_id: str, *states: str, timeout: float = 90) -> CampaignReport:
        assert wait_for(lambda: self.report(campaign_id).state in states, timeout), \
            self.report(campaign_id).to_json()
        return self.report(campaign_id)

    def run(self, *states: str) -> CampaignReport:
        """Announce the bundle; the report of its campaign once in one of `states`."""
        self.announce()
        return self.wait_state(self.campaign_id(), *states)


RigFactory = Callable[..., ForeignRig]


def bmc_entry(name: str, service: ForeignService, **extra: str) -> dict[str, str]:
    """A [[bmcs]] entry for a foreign service (neither checks credentials)."""
    return {"id": name, "url": service.url, "username": "admin", "password": "password",
            **extra}


def package(pid: str, component: str, version: str, models: Sequence[str],
            **extra: Any) -> dict[str, Any]:
    return {"id": pid, "component": component, "version": version, "models": list(models),
            "min_from_version": None, "requires": [], "reset": "host",
            "path": f"payloads/{pid}.bin", "size": 2_000, **extra}


def bundle_spec(bundle_id: str, packages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"bundle_id": bundle_id, "release": "test", "publisher": "fleetflash tests",
            "packages": [dict(p) for p in packages]}


@pytest.fixture
def foreign_rig(tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory
                ) -> Iterator[RigFactory]:
    """``foreign_rig(bmcs=[bmc_entry(...)], spec=bundle_spec(...), cluster={...})``: a
    gateway (the real composition root) managing the given BMCs, and a publisher
    serving a bundle built from ``spec``. Extra keys of a BMC entry (``system``,
    ``systems``) are written to its [[bmcs]] table as they are."""
    with ExitStack() as stack:
        def start(*, bmcs: Sequence[Mapping[str, str]], spec: Mapping[str, Any],
                  cluster: Mapping[str, Any] | None = None,
                  timeouts: Mapping[str, float] | None = None) -> ForeignRig:
            bundle = bundle_factory(dict(spec), name="foreign.iso")
            publisher = stack.enter_context(BundleServer([bundle]))
            plain = [{k: v for k, v in b.items() if k in ("id", "url", "username", "password")}
                     for b in bmcs]
            config_path = write_gateway_config(
                tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
                bmcs=plain, group_of=lambda _n: "all", groups={"all": 1},
                cluster={"failure_budget": 1, **(cluster or {})}, timeouts=timeouts)
            _add_bmc_keys(config_path, bmcs)
            gateway = build_gateway(load_config(config_path), worker_poll_interval=0.2)
            gateway.start()
            stack.callback(gateway.stop)
            sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
            return ForeignRig(gateway, publisher, bundle, sha, str(spec["bundle_id"]))

        yield start


def _add_bmc_keys(config_path: Path, bmcs: Sequence[Mapping[str, str]]) -> None:
    """Append the entries' extra keys (e.g. ``system``) to their [[bmcs]] tables."""
    extras = [{k: v for k, v in b.items() if k not in ("id", "url", "username", "password")}
              for b in bmcs]
    if not any(extras):
        return
    tables = config_path.read_text().split("\n[[bmcs]]\n")
    for index, extra in enumerate(extras, start=1):
        tables[index] = tables[index].rstrip("\n") + "\n" + "".join(
            f'{key} = "{value}"\n' for key, value in extra.items())
    config_path.write_text("\n[[bmcs]]\n".join(tables))


def assert_honest(report: CampaignReport) -> None:
    """No campaign ends ``completed`` with an unexplained node, and none with no node:
    every node was verified ("done") or says why not."""
    unexplained = [n.node_id for n in report.nodes
                   if n.outcome not in VERIFIED and not (n.error or "").strip()]
    assert not unexplained, f"nodes without an explanation: {unexplained}: {report.to_json()}"
    if report.state == "completed":
        assert report.nodes, f"a campaign with no node ended completed: {report.to_json()}"
        assert all(n.outcome in (*VERIFIED, "not_applicable") for n in report.nodes), \
            report.to_json()
