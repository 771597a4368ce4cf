"""What several bench scripts share: their numeric options, and the gateway config their
`gateway serve` runs on."""

from __future__ import annotations

import argparse
from pathlib import Path


def bench_parser(doc: str, **defaults: int | float) -> argparse.ArgumentParser:
    """A parser described by `doc`'s first line, with one --option per keyword
    (underscores written as dashes) of its default's type, int or float."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    return parser


def bench_gateway_config(work: Path, port: int, *, name: str, username: str, password: str,
                         image_uri_prefix: str, trusted_key: Path,
                         cache_max_size: str | None = None) -> Path:
    """WORK/gateway.toml: gateway `name` (state in WORK/state) whose CIM listener is on
    127.0.0.1:`port`, with one publisher "bench" on loopback; no media server. Needs the
    repository on sys.path."""
    from gateway.config import hash_password
    from tests.support.gateway_toml import gateway_toml, source_toml, table, write_gateway_config

    parts = [gateway_toml(work / "state", name=name, listener={"http": f"127.0.0.1:{port}"},
                          media=False)]
    if cache_max_size is not None:
        parts.append(table("cache", max_size=cache_max_size))
    parts.append(source_toml("bench", username, hash_password(password), [image_uri_prefix],
                             [trusted_key]))
    return write_gateway_config(work, *parts)
