"""[front_door] configuration: defaults per listener, shared keys, overrides, strictness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, parse_config
from gateway.frontdoor import FrontDoorPolicy, front_door_policy
from gateway.frontdoor.policy import DEFAULTS


def _policy(table: dict[str, Any], listener: str) -> FrontDoorPolicy:
    return front_door_policy(parse_config({"front_door": table}, Path("/x/g.toml")), listener)


def test_defaults_shared_keys_and_per_listener_overrides() -> None:
    assert _policy({}, "media") == DEFAULTS["media"]
    assert _policy({}, "cim").head_timeout_s == 10.0
    policy = _policy({"head_timeout_s": 5, "cim": {"max_connections_per_client": 4}}, "cim")
    assert (policy.head_timeout_s, policy.max_connections_per_client) == (5, 4)
    assert _policy({"head_timeout_s": 5, "cim": {"max_connections_per_client": 4}},
                   "api").max_connections_per_client == DEFAULTS["api"].max_connections_per_client


@pytest.mark.parametrize("table", [
    {"head_timeout": 5},                                   # misspelt key
    {"cim": {"max_conns": 3}},                             # misspelt key in a listener table
    {"smtp": {}},                                          # unknown listener
    {"head_timeout_s": 0},                                 # not a positive deadline
    {"idle_timeout_s": "60"},                              # not a number
    {"max_connections": 2.5},                              # not an integer
    {"max_connections": True},
    {"cim": {"max_connections": 10, "max_connections_per_client": 11}},
    {"cim": 3},
])
def test_bad_settings_are_config_errors_naming_the_key(table: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="front_door"):
        _policy(table, "cim")
