"""Gateway config files for tests: the TOML an operator writes, built from the few facts
a test cares about (its clusters, its config-file BMCs), so the tables every config
repeats ([gateway], [listener], [media], groups) are written in one place."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

LOOPBACK_ANY_PORT = "127.0.0.1:0"


def toml_value(value: object) -> str:
    """``value`` as TOML: strings (and paths) quoted, booleans lower case, lists and
    mappings inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def table(header: str, **values: object) -> str:
    """``[header]`` (write ``[name]`` for an array-of-tables entry) and its keys."""
    lines = [f"[{header}]", *(f"{key} = {toml_value(value)}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


def gateway_toml(state_dir: Path | str, *, name: str | None = "gw",
                 listener: Mapping[str, object] | None = None, media: bool = True) -> str:
    """[gateway] with its state directory, and a [listener] and [media] on loopback
    (any free port; the media base URL is never fetched by these tests)."""
    text = table("gateway", **({"name": name} if name else {}), state_dir=state_dir)
    text += table("listener", **(listener or {"http": LOOPBACK_ANY_PORT}))
    if media:
        text += table("media", http=LOOPBACK_ANY_PORT, base_url="http://127.0.0.1:1")
    return text


def cluster_toml(name: str, groups: Sequence[str] = ("rack1",), **settings: object) -> str:
    """A [[clusters]] entry whose groups each let one node be down at a time."""
    text = table("[clusters]", name=name, **settings)
    return text + "".join(table("[clusters.groups]", name=group, max_unavailable=1)
                          for group in groups)


def bmc_toml(name: str, cluster: str, group: str, url: str, *, username: str = "root",
             **settings: object) -> str:
    """A [[bmcs]] entry; ``settings`` holds its credentials (password_file, password, ...)."""
    return table("[bmcs]", name=name, cluster=cluster, group=group, url=url,
                 username=username, **settings)


def source_toml(name: str, username: str, password_hash: str, image_uri_prefixes: Sequence[str],
                trusted_keys: Sequence[Path | str],
                clients: Sequence[str] = ("127.0.0.0/8",), **keys: object) -> str:
    """A [[sources]] entry: a publisher on loopback whose alerts name FLEETFLASH images
    (``keys``: further keys of the table, e.g. withdrawal)."""
    return table("[sources]", name=name, clients=clients, username=username,
                 password_hash=password_hash, owning_entities=["FLEETFLASH"],
                 image_uri_prefixes=image_uri_prefixes, trusted_keys=trusted_keys, **keys)


def write_gateway_config(directory: Path, *parts: str) -> Path:
    """``directory``/gateway.toml holding ``parts``; returns its path."""
    path = directory / "gateway.toml"
    path.write_text("\n".join(parts))
    return path
