"""`fleetflash emulator serve`: run an emulated BMC cluster until interrupted."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import click

from emulator.config import DEFAULT_MODELS, ClusterConfig, NodeSpec
from emulator.errors import ConfigError, EmulatorError
from emulator.faults import Fault, parse_fault_option
from emulator.personalities import PERSONALITIES
from emulator.personalities import personality as personality_named
from emulator.quirks import CATALOGUE, parse_quirks


def _read_nodes_file(path: Path) -> list[NodeSpec]:
    """A JSON list of {model, firmware: {component: version}, username, password, serial,
    personality}."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"nodes file {path}: {exc}") from exc
    if not isinstance(document, list):
        raise ConfigError(f"nodes file {path}: expected a JSON list of node objects")
    allowed = {"model", "firmware", "username", "password", "serial", "personality"}
    specs = []
    for index, item in enumerate(document):
        if not isinstance(item, dict) or set(item) - allowed:
            raise ConfigError(
                f"nodes file {path}: node {index} must be an object with keys from "
                f"{sorted(allowed)}"
            )
        specs.append(NodeSpec(**item))
    return specs


def _with_quirks(nodes: int | list[NodeSpec], options: tuple[str, ...]) -> int | list[NodeSpec]:
    """Apply ``--quirk NAME[=V]`` (every BMC) and ``--quirk bmc-NNNN=NAME[=V]`` (one BMC)."""
    if not options:
        return nodes
    specs = [NodeSpec() for _ in range(nodes)] if isinstance(nodes, int) else nodes
    every: list[str] = []
    single: dict[int, list[str]] = {}
    for text in options:
        head, sep, rest = text.partition("=")
        if sep and head.startswith("bmc-") and head not in CATALOGUE:
            try:
                index = int(head.removeprefix("bmc-"))
            except ValueError:
                raise ConfigError(f"--quirk {text}: {head!r} is not a BMC id (bmc-NNNN)") from None
            if not 0 <= index < len(specs):
                raise ConfigError(f"--quirk {text}: there is no {head} ({len(specs)} BMCs)")
            single.setdefault(index, []).append(rest)
        else:
            every.append(text)
    common = parse_quirks(every)
    for index, spec in enumerate(specs):
        spec.quirks = spec.quirks.merged(common).merged(parse_quirks(single.get(index, [])))
    return specs


def _with_personality(nodes: int | list[NodeSpec], name: str) -> list[NodeSpec]:
    """Every BMC presents the personality ``name`` (ConfigError when unknown)."""
    personality_named(name)
    specs = [NodeSpec() for _ in range(nodes)] if isinstance(nodes, int) else nodes
    for spec in specs:
        spec.personality = name
    return specs


def _write_private_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")


@click.group()
def emulator() -> None:
    """The emulated BMC cluster (Redfish firmware-update emulator on libvirt)."""


@emulator.command()
@click.option("--nodes", type=click.IntRange(1, 5000), help="Number of BMCs.")
@click.option("--nodes-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON list of per-node {model, firmware, username, password, serial, "
                   "personality}.")
@click.option("--base-port", type=click.IntRange(0, 65535), default=20000, show_default=True,
              help="BMC i listens on base port + i (0: free ports).")
@click.option("--models", default=",".join(DEFAULT_MODELS), show_default=True,
              help="Comma-separated models, assigned round-robin.")
@click.option("--trusted-key", "trusted_keys", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ed25519 public key (PEM) bundles must be signed with (repeatable).")
@click.option("--flash-seconds", type=click.FloatRange(0), default=2.0, show_default=True,
              help="Time to write one component.")
@click.option("--reset-seconds", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Time a host reset takes (PowerState PoweringOn meanwhile).")
@click.option("--bmc-restart-seconds", type=click.FloatRange(0), default=3.0, show_default=True,
              help="Time the BMC's port refuses connections while it restarts.")
@click.option("--bmc-restart-delay-seconds", type=click.FloatRange(0), default=3.0,
              show_default=True,
              help="After an update task that restarts the BMC: the longest the BMC keeps "
                   "serving (1 s after a client read the finished task, if sooner).")
@click.option("--sessions-survive-restart", is_flag=True,
              help="Keep sessions across a BMC restart (as OpenBMC does).")
@click.option("--session-timeout-seconds", type=click.FloatRange(0, 86400, min_open=True),
              default=1800.0, show_default=True,
              help="Idle time after which a session ends (SessionService.SessionTimeout).")
@click.option("--tls", is_flag=True, help="HTTPS with a self-signed certificate made now.")
@click.option("--libvirt-uri", default="test:///default", show_default=True,
              help="libvirt URI for the hosts (qemu:///system for labs).")
@click.option("--audit-log", type=click.Path(dir_okay=False, path_type=Path),
              help="Append JSON-lines audit records here.")
@click.option("--inventory-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the inventory JSON here once every BMC answers.")
@click.option("--admin-port", type=click.IntRange(0, 65535), default=0,
              help="Port of the fault admin endpoint (0: a free port).")
@click.option("--admin-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write {admin_url, admin_token} here (mode 0600). Default: "
                   "next to --inventory-out as <name>.admin.json.")
@click.option("--image-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA bundle the BMCs trust for https image URLs (default: system CAs).")
@click.option("--fault", "faults", multiple=True, metavar="BMC=KIND[:key=value,...]",
              help="Start with a fault set, e.g. bmc-0002=latency:seconds=0.5 (repeatable).")
@click.option("--quirk", "quirks", multiple=True, metavar="[BMC=]NAME[=VALUE]",
              help="A vendor behaviour (emulator/quirks.py, docs/interop.md) for every BMC, or "
                   "for one (bmc-0003=session-limit=2). Repeatable.")
@click.option("--personality", metavar="NAME",
              help="A BMC family every BMC presents (emulator/personalities.py): "
                   f"{', '.join(PERSONALITIES)}. Default: dmtf.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.pass_context
def serve(ctx: click.Context, nodes: int | None, nodes_file: Path | None, base_port: int,
          models: str, trusted_keys: tuple[Path, ...], flash_seconds: float, reset_seconds: float,
          bmc_restart_seconds: float, bmc_restart_delay_seconds: float,
          sessions_survive_restart: bool, session_timeout_seconds: float, tls: bool,
          libvirt_uri: str, audit_log: Path | None,
          inventory_out: Path | None, admin_port: int, admin_out: Path | None,
          image_ca: Path | None, faults: tuple[str, ...], quirks: tuple[str, ...],
          personality: str | None, verbose: bool) -> None:
    """Serve N emulated BMCs on 127.0.0.1 until interrupted (Ctrl-C / SIGTERM)."""
    from emulator.cluster import EmulatedCluster

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if nodes_file is not None:
            node_specs: int | list[NodeSpec] = _read_nodes_file(nodes_file)
        elif nodes is not None:
            node_specs = nodes
        else:
            raise ConfigError("give --nodes N or --nodes-file FILE")
        node_specs = _with_quirks(node_specs, quirks)
        model_names = models.split(",")
        if personality is not None:
            node_specs = _with_personality(node_specs, personality)
            if ctx.get_parameter_source("models") is click.core.ParameterSource.DEFAULT:
                model_names = list(personality_named(personality).models)
        parsed: dict[str, list[Fault]] = {}
        for text in faults:
            bmc_id, fault = parse_fault_option(text)
            parsed.setdefault(bmc_id, []).append(fault)
        config = ClusterConfig(
            nodes=node_specs, base_port=base_port or None, models=model_names,
            trusted_keys=list(trusted_keys), flash_seconds=flash_seconds,
            reset_seconds=reset_seconds, bmc_restart_seconds=bmc_restart_seconds,
            bmc_restart_delay_seconds=bmc_restart_delay_seconds,
            sessions_survive_restart=sessions_survive_restart,
            session_timeout_seconds=session_timeout_seconds, tls=tls,
            libvirt_uri=libvirt_uri, audit_log=audit_log, admin_port=admin_port or None,
            image_tls_verify=str(image_ca) if image_ca else True,
        )
        cluster = EmulatedCluster(config)
        cluster.start()
    except (ConfigError, EmulatorError) as exc:
        raise click.ClickException(str(exc)) from exc
    stop = threading.Event()
    try:
        for bmc_id, items in parsed.items():
            for fault in items:
                cluster.bmc(bmc_id).faults.add(fault)
        if inventory_out is not None:
            cluster.write_inventory(inventory_out)
            admin_out = admin_out or inventory_out.with_suffix(".admin.json")
        if admin_out is not None:
            _write_private_json(admin_out, {"admin_url": cluster.admin_url,
                                            "admin_token": cluster.admin_token})
        ports = [b.port for b in cluster.bmcs]
        click.echo(f"{len(ports)} BMCs answering on 127.0.0.1 ports {min(ports)}-{max(ports)}"
                   f" ({'https' if tls else 'http'}); admin endpoint {cluster.admin_url}")
        if inventory_out is not None:
            click.echo(f"inventory: {inventory_out}")
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(1.0):
            pass
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        cluster.stop()
        click.echo("emulator stopped")
