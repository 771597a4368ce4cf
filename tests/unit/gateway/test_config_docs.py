"""docs/configuration.md documents exactly the keys the configuration model accepts.

A key is documented by a row of a key table under a heading naming its table
(``## `[cache]` ...``, or a line ```[logging]`:`` before the table), or by a line of
a TOML example (commented-out ``# key = value`` lines count).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, get_args

from gateway.config_model import ConfigFile
from gateway.config_schema import Table
from gateway.frontdoor.policy import LISTENERS

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
# Past this heading the page is about commands (discovery rules are another file).
END = "## Setting up"


def _table_of(annotation: Any) -> type[Table] | None:
    if isinstance(annotation, type) and issubclass(annotation, Table):
        return annotation
    for argument in get_args(annotation):
        found = _table_of(argument)
        if found is not None:
            return found
    return None


def model_keys(model: type[Table] = ConfigFile, prefix: str = "") -> set[str]:
    """Every key path the model accepts, array entries without index: clusters.groups.name."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        table = _table_of(field.annotation)
        if table is None:
            keys.add(prefix + name)
        else:
            keys |= model_keys(table, f"{prefix}{name}.")
    return keys


MODEL = model_keys()
TABLES = {key.rsplit(".", 1)[0] for key in MODEL if "." in key}


def _flatten(value: Any, path: str) -> set[str]:
    if path in MODEL or not isinstance(value, dict | list):
        return {path}
    items = value if isinstance(value, list) else [value]
    keys: set[str] = set()
    for item in items:
        if isinstance(item, dict):
            for key, inner in item.items():
                keys |= _flatten(inner, f"{path}.{key}" if path else key)
        else:
            keys.add(path)
    return keys


def documented_keys(text: str) -> set[str]:
    text = text.split(END, 1)[0]
    keys: set[str] = set()
    for block in re.findall(r"```toml\n(.*?)```", text, re.S):
        keys |= _flatten(tomllib.loads(re.sub(r"(?m)^# (?=[a-z_]+ = )", "", block)), "")
    section = None
    for line in text.splitlines():
        named = re.match(r"^(?:#+ .*?|)`\[\[?([a-z_.]+)\]?\]`", line)
        if line.startswith("#"):
            section = named.group(1) if named else None
        elif named and line.rstrip().endswith(":"):
            section = named.group(1)
        elif section and line.startswith("| `"):
            first_cell = line.split("|")[1]
            keys |= {f"{section}.{key}" for key in re.findall(r"`([a-z_]+)`", first_cell)}
    # [front_door.<listener>] tables take the keys of [front_door], documented once.
    for listener in LISTENERS:
        if f"`[front_door.{listener}]`" in text:
            keys |= {key.replace("front_door.", f"front_door.{listener}.", 1)
                     for key in set(keys) if key.count(".") == 1
                     and key.startswith("front_door.")}
    return keys


def test_the_model_is_walked_to_every_level() -> None:
    assert {"gateway.name", "listener.http", "clusters.groups.max_unavailable",
            "clusters.cluster_manager.node_names", "qos_classes.windows.start",
            "orchestrator.timeouts.wait_back", "front_door.bmc_events.max_connections",
            "bmcs.password_env", "media.base_url", "logging.level"} <= MODEL


def test_every_key_the_model_accepts_is_documented() -> None:
    missing = MODEL - documented_keys(DOC.read_text(encoding="utf-8"))
    assert not missing, f"docs/configuration.md does not document: {sorted(missing)}"


def test_every_documented_key_exists() -> None:
    stray = documented_keys(DOC.read_text(encoding="utf-8")) - MODEL - TABLES
    assert not stray, f"docs/configuration.md documents unknown keys: {sorted(stray)}"


def test_the_check_sees_a_missing_or_an_invented_key() -> None:
    text = DOC.read_text(encoding="utf-8")
    without = text.replace("| `retention_days` |", "| retention days |")
    assert "refusals.retention_days" in MODEL - documented_keys(without)
    invented = text.replace("| `bucket_s` |", "| `bucket_s`, `bucket_size` |")
    assert "refusals.bucket_size" in documented_keys(invented) - MODEL
