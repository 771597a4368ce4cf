"""What several bench scripts share: the gateway config their `gateway serve` runs on.

Run from the scripts (they put the repository on sys.path first).
"""

from __future__ import annotations

from pathlib import Path

from gateway.config import hash_password
from tests.support.gateway_toml import gateway_toml, source_toml, table, write_gateway_config


def bench_gateway_config(work: Path, port: int, *, name: str, username: str, password: str,
                         image_uri_prefix: str, trusted_key: Path,
                         cache_max_size: str | None = None) -> Path:
    """WORK/gateway.toml: gateway `name` (state in WORK/state) whose CIM listener is on
    127.0.0.1:`port`, with one publisher "bench" on loopback; no media server."""
    parts = [gateway_toml(work / "state", name=name, listener={"http": f"127.0.0.1:{port}"},
                          media=False)]
    if cache_max_size is not None:
        parts.append(table("cache", max_size=cache_max_size))
    parts.append(source_toml("bench", username, hash_password(password), [image_uri_prefix],
                             [trusted_key]))
    return write_gateway_config(work, *parts)
