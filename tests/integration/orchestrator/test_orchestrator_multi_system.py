"""A gateway whose [[bmcs]] entry says systems = "all": one node per system behind the root,
each inventoried as its own host; an entry that names no system on such a root is refused."""

from __future__ import annotations

from pathlib import Path

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from gateway.config import load_config
from gateway.orchestrator.inventory import inventory_cluster
from gateway.service import build_gateway
from gateway.store.campaigns import CampaignStore
from tests.conftest import TestKeys
from tests.integration.orchestrator.rig import TEST_MODEL, write_gateway_config


def test_systems_all_becomes_one_node_per_system(tmp_path: Path, test_keys: TestKeys) -> None:
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL), NodeSpec(model=TEST_MODEL)],
                         trusted_keys=[test_keys.public]) as emulated:
        enclosure, plain = emulated.inventory
        emulated.faults.set(enclosure["id"], "extra_systems", systems=2)
        emulated.faults.set(plain["id"], "extra_systems", systems=1)
        path = write_gateway_config(
            tmp_path, publisher_prefix="http://127.0.0.1:9/", trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=lambda _n: "all", groups={"all": 1})
        text = path.read_text().replace(f'name = "{enclosure["id"]}"\n',
                                        f'name = "{enclosure["id"]}"\nsystems = "all"\n')
        path.write_text(text)
        gateway = build_gateway(load_config(path))  # built, not started
        try:
            assert gateway.orchestration is not None
            settings = gateway.orchestration.orchestrator.clusters["lab"]
            expected = sorted([f"{enclosure['id']}-{i}" for i in (1, 2, 3)] + [plain["id"]])
            assert sorted(settings.cluster.node_ids()) == expected
            assert sorted(settings.endpoints) == expected

            found = inventory_cluster(CampaignStore(gateway.store.engine), "lab",
                                      settings.endpoints.values())
            assert {n: found[n].serial for n in found} == {
                f"{enclosure['id']}-1": enclosure["serial"],
                f"{enclosure['id']}-2": f"{enclosure['serial']}-2",
                f"{enclosure['id']}-3": f"{enclosure['serial']}-3"}
            # The plain entry names no system on a root that now serves two: refused, stored.
            stored = {n.node_id: n for n in CampaignStore(gateway.store.engine).nodes("lab")}
            assert "serves 2 systems" in stored[plain["id"]].error
        finally:
            gateway.store.close()
