"""Roots serving several systems: system / systems = "all" in [[bmcs]], URL paths, duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cluster_config import expand_systems, load_clusters
from gateway.config import ConfigError, load_config
from gateway.redfish import BmcEndpoint, BmcUnreachableError, ConfigurationError
from gateway.redfish.endpoint import ALL_SYSTEMS
from gateway.redfish.systems import choose_system
from tests.support.gateway_toml import bmc_toml, cluster_toml, table, write_gateway_config

HEAD = table("gateway", name="gw", state_dir="state") + cluster_toml("c", ["g"])


def bmc(name: str, url: str, **extra: str) -> str:
    return bmc_toml(name, "c", "g", url, username="u", password="lab-only", **extra)


def load(tmp_path: Path, *entries: str):  # type: ignore[no-untyped-def]
    (settings,) = load_clusters(load_config(write_gateway_config(tmp_path, HEAD, *entries)))
    return settings


def test_system_by_id_by_path_and_by_url(tmp_path: Path) -> None:
    settings = load(tmp_path, bmc("a", "https://10.0.0.9", system="blade-1"),
                    bmc("b", "https://10.0.0.9", system="/redfish/v1/Systems/blade-2"),
                    bmc("c", "https://10.0.0.9/redfish/v1/Systems/blade-3/"))
    systems = {n: e.system for n, e in settings.endpoints.items()}
    assert systems == {"a": "blade-1", "b": "/redfish/v1/Systems/blade-2",
                       "c": "/redfish/v1/Systems/blade-3"}
    assert {e.url for e in settings.endpoints.values()} == {"https://10.0.0.9"}


@pytest.mark.parametrize(("entries", "message"), [
    ((bmc("a", "https://10.0.0.9"), bmc("b", "https://10.0.0.9/redfish/v1")),
     "BMC 'b': https://10.0.0.9 is already registered by BMC 'a'"),
    ((bmc("a", "https://10.0.0.9", system="2"),
      bmc("b", "https://10.0.0.9/redfish/v1/Systems/2")),
     "BMC 'b': system '2' of https://10.0.0.9 is already registered by BMC 'a'"),
    ((bmc("a", "https://10.0.0.9", systems="all"), bmc("b", "https://10.0.0.9", system="2")),
     "already registered by BMC 'a'"),
    ((bmc("a", "https://10.0.0.9", system="2"), bmc("b", "https://10.0.0.9", systems="all")),
     "already registered by BMC 'a'"),
    ((bmc("a", "https://BMC-7.example"), bmc("b", "https://bmc-7.example:443/redfish/v1")),
     "BMC 'b': https://bmc-7.example:443 is already registered by BMC 'a'"),
    ((bmc("a", "https://10.0.0.9", systems="some"),), 'systems can only be "all"'),
    ((bmc("a", "https://10.0.0.9", systems="all", system="1"),), "not both"),
    ((bmc("a", "https://10.0.0.9/redfish/v1/Systems/1", systems="all"),),
     'systems = "all" needs the service root URL'),
    ((bmc("a", "https://10.0.0.9/redfish/v1/Systems/1", system="2"),),
     "the URL names system '/redfish/v1/Systems/1' but system is '2'"),
    ((bmc("a", "https://10.0.0.9/redfish/v1/Managers/1"),),
     "URL path '/redfish/v1/Managers/1' is neither the service root"),
])
def test_conflicting_registrations_are_refused_naming_them(
        tmp_path: Path, entries: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, *entries)
    assert message in str(caught.value)


def test_same_system_id_on_different_bmcs_is_fine(tmp_path: Path) -> None:
    settings = load(tmp_path, bmc("a", "https://10.0.0.9", system="1"),
                    bmc("b", "https://10.0.0.10", system="1"))
    assert set(settings.endpoints) == {"a", "b"}


def test_systems_all_expands_into_one_node_per_system(tmp_path: Path) -> None:
    settings = load(tmp_path, bmc("encl", "https://10.0.0.9", systems="all"),
                    bmc("solo", "https://10.0.0.10"))
    assert settings.endpoints["encl"].system == ALL_SYSTEMS
    asked: list[str] = []

    def lister(endpoint: BmcEndpoint) -> list[str]:
        asked.append(endpoint.name)
        return ["/redfish/v1/Systems/1", "/redfish/v1/Systems/uuid:7f3a"]

    (expanded,) = expand_systems((settings,), lister)
    assert asked == ["encl"]  # only the entry that asked for it
    assert set(expanded.endpoints) == {"encl-1", "encl-uuid_7f3a", "solo"}
    assert expanded.endpoints["encl-uuid_7f3a"].system == "/redfish/v1/Systems/uuid:7f3a"
    assert expanded.endpoints["encl-1"].url == "https://10.0.0.9"
    assert sorted(expanded.cluster.node_ids()) == ["encl-1", "encl-uuid_7f3a", "solo"]
    assert expanded.cluster.group_of("encl-1") == "g"


def test_an_unlisted_bmc_stays_one_node_that_says_why(tmp_path: Path) -> None:
    settings = load(tmp_path, bmc("encl", "https://10.0.0.9", systems="all"))

    def down(endpoint: BmcEndpoint) -> list[str]:
        raise BmcUnreachableError("connection refused")

    (kept,) = expand_systems((settings,), down)
    assert set(kept.endpoints) == {"encl"}
    with pytest.raises(ConfigurationError, match="was not expanded"):
        choose_system(["/redfish/v1/Systems/1"], kept.endpoints["encl"].system)


def test_expanded_id_colliding_with_another_node_is_refused(tmp_path: Path) -> None:
    settings = load(tmp_path, bmc("encl", "https://10.0.0.9", systems="all"),
                    bmc("encl-1", "https://10.0.0.10"))
    with pytest.raises(ConfigError, match="would be node 'encl-1', which already exists"):
        expand_systems((settings,), lambda _e: ["/redfish/v1/Systems/1"])


@pytest.mark.parametrize(("members", "selector", "chosen"), [
    (["/redfish/v1/Systems/1"], None, "/redfish/v1/Systems/1"),
    (["/redfish/v1/Systems/1", "/redfish/v1/Systems/2"], "2", "/redfish/v1/Systems/2"),
    (["/redfish/v1/Systems/1", "/redfish/v1/Systems/2"], "/redfish/v1/Systems/2/",
     "/redfish/v1/Systems/2"),
])
def test_choose_system(members: list[str], selector: str | None, chosen: str) -> None:
    assert choose_system(members, selector) == chosen


def test_choose_system_never_takes_the_first_of_several() -> None:
    with pytest.raises(ConfigurationError, match="serves 2 systems"):
        choose_system(["/redfish/v1/Systems/a", "/redfish/v1/Systems/b"], None)
