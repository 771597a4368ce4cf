"""Helpers shared by the intake tests: a gateway config on disk and a running gateway."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.config import GatewayConfig, hash_password, load_config
from gateway.service import Gateway, GatewayStartError, build_gateway
from tests.support.gateway_toml import gateway_toml, source_toml, table, write_gateway_config
from tests.support.ports import restartable_port

SOURCE_USER = "acme-publisher"
SOURCE_PASSWORD = "correct horse battery staple"
# Cheap hash for tests: PBKDF2 cost is irrelevant to behaviour.
SOURCE_HASH = hash_password(SOURCE_PASSWORD, iterations=1000)


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (pywbem cannot bind port 0 itself), below
    the ephemeral range and never one this process picked recently (lab/ports.py)."""
    return restartable_port()


def write_config(directory: Path, *, prefixes: list[str], trusted_key: Path,
                 http_port: int | None = None, clients: list[str] | None = None,
                 cache_max: str = "1GiB", max_body: int = 65536,
                 extra: str = "") -> Path:
    """Write a gateway TOML with one source `acme` and return its path."""
    port = http_port if http_port is not None else free_port()
    return write_gateway_config(
        directory,
        gateway_toml(directory / "state", name="gw-test", media=False,
                     listener={"http": f"127.0.0.1:{port}", "max_body_bytes": max_body}),
        table("cache", max_size=cache_max),
        source_toml("acme", SOURCE_USER, SOURCE_HASH, prefixes, [trusted_key],
                    clients=clients or ["127.0.0.0/8"]) + extra)


def listener_url(config: GatewayConfig) -> str:
    assert config.listener.http is not None
    return f"http://127.0.0.1:{config.listener.http[1]}"


@contextmanager
def running_gateway(config_path: Path, *, poll_interval: float = 0.2) -> Iterator[Gateway]:
    """Start a gateway from `config_path`; retries with a new port if it was taken."""
    for _ in range(5):
        config = load_config(config_path)
        gateway = build_gateway(config, worker_poll_interval=poll_interval)
        try:
            gateway.start()
        except GatewayStartError as exc:
            gateway.store.close()
            if not isinstance(exc.__cause__, OSError):
                raise
            text = config_path.read_text()
            assert config.listener.http is not None
            config_path.write_text(text.replace(f":{config.listener.http[1]}\"",
                                                f":{free_port()}\""))
            continue
        try:
            yield gateway
        finally:
            gateway.stop()
        return
    raise RuntimeError("could not find a free listener port")
