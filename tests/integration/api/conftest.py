"""A whole gateway with its API on loopback, managing an emulated cluster.

Reuses the orchestrator tests' rig (emulator, publisher, gateway TOML) and adds
an [api] section, so `build_gateway` composes the API exactly as `gateway
serve` does. Node steps are slowed (flash 1 s) so a browser or the CLI can
watch, pause and resume a campaign while it runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.publisher import BundleServer
from gateway.api.auth import TokenStore
from gateway.config import load_config
from gateway.service import Gateway, build_gateway
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.rig import TEST_MODEL, power_on, write_gateway_config

GROUPS = {"even": 1, "odd": 1}


def group_of(node: str) -> str:
    return "even" if int(node.rsplit("-", 1)[1]) % 2 == 0 else "odd"


@dataclass
class LiveGateway:
    """A running gateway: `url` of its API, one token per role, the bundle to announce."""

    gateway: Gateway
    emulated: EmulatedCluster
    publisher: BundleServer
    bundle: Path
    sha256: str
    url: str
    tokens: dict[str, str]

    @property
    def image_uri(self) -> str:
        return self.publisher.url_for(self.bundle)


LiveFactory = Callable[..., LiveGateway]


@pytest.fixture
def live_gateway(tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory
                 ) -> Iterator[LiveFactory]:
    """`live_gateway(nodes=4, api_extra="", flash_seconds=1.0, cluster={...}, configured=N,
    orchestrator={...})`: `configured` BMCs (default all) are declared in the config file."""
    with ExitStack() as stack:
        def start(*, nodes: int = 4, api_extra: str = "", flash_seconds: float = 1.0,
                  cluster: dict[str, Any] | None = None, configured: int | None = None,
                  orchestrator: dict[str, Any] | None = None) -> LiveGateway:
            emulated = stack.enter_context(EmulatedCluster(
                nodes=[NodeSpec(model=TEST_MODEL) for _ in range(nodes)],
                trusted_keys=[test_keys.public], flash_seconds=flash_seconds,
                reset_seconds=0.2, bmc_restart_seconds=0.3))
            power_on(emulated)
            bundle = bundle_factory(name="fleet-test.iso")
            publisher = stack.enter_context(BundleServer([bundle]))
            config_path = write_gateway_config(
                tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
                bmcs=emulated.inventory[:configured], group_of=group_of, groups=GROUPS,
                cluster={"autonomy": "require_approval", "failure_budget": 1,
                         **(cluster or {})}, orchestrator=orchestrator)
            with config_path.open("a") as config_file:
                config_file.write(f'\n[api]\nlisten = "127.0.0.1:0"\n{api_extra}\n')
            gateway = build_gateway(load_config(config_path), worker_poll_interval=0.2)
            gateway.start()
            stack.callback(gateway.stop)
            assert gateway.api is not None
            tokens = TokenStore.for_store(gateway.store)
            secrets = {role: tokens.create(f"{role}-1", role)[1]
                       for role in ("viewer", "operator", "admin")}
            sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
            return LiveGateway(gateway, emulated, publisher, bundle, sha, gateway.api.url,
                               secrets)

        yield start
