"""`lab up` and `lab down`: bring a topology's emulated data centre up in the
background (emulator, publisher, gateway) and take it down again.

With ``--gateways N --database postgresql`` the lab starts a private PostgreSQL
server (lab.lab_postgres) and N gateways sharing it (each its own name, ports
and state directory; one image cache directory, as on one host).

`up` picks free loopback ports, makes a signing key pair (unless the work
directory already has one), an API token and the publisher's listener
password, starts the three processes detached, powers the emulated hosts on
(a managed server runs; the emulator starts them off) and returns once every
part answers, writing the state file (lab.lab_state). If anything fails on
the way, what was started is stopped again: no half-running lab is left.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import firmware_payloads as fp
from gateway.config import ConfigError, hash_password, load_config
from lab import lab_processes as procs
from lab import lab_slurm
from lab.lab_fleet import admin_token, member_config, start_member
from lab.lab_gateway_config import LabEndpoints, render_gateway_config
from lab.lab_postgres import PostgresError, start_postgres
from lab.lab_power import power_on
from lab.lab_state import LabError, LabState, read_state, write_state
from lab.topology import Node, Topology, TopologyError, load_topology

DEFAULT_LIBVIRT_URI = "test:///default"
CIM_USERNAME = "lab-publisher"
START_TIMEOUT_S = 180.0
# What each process's command line contains, so `down` never signals a reused pid.
MARKERS = {"emulator": "emulator", "publisher": "lab.lab_publisher", "gateway": "gateway",
           "postgres": "postgres"}
DATABASES = ("sqlite", "postgresql")
MAX_GATEWAYS = 8


def marker(name: str) -> str:
    """The command-line marker of process `name` ("gateway-2" is a gateway)."""
    return MARKERS[name.split("-", 1)[0]]


def _stop_order(name: str) -> tuple[int, str]:
    """Gateways first (nothing touches a BMC that is going away), the database last."""
    kind = name.split("-", 1)[0]
    return ("gateway", "publisher", "emulator", "postgres").index(kind), name


@dataclass(frozen=True)
class UpOptions:
    """How to bring a lab up. `workdir` None: var/lab/<topology>-<UTC time>."""

    topology: Path
    state_file: Path
    workdir: Path | None = None
    libvirt_uri: str = DEFAULT_LIBVIRT_URI
    gateways: int = 1
    database: str = "sqlite"  # or "postgresql": a private server the gateways share


def default_workdir(topology: Topology) -> Path:
    return Path("var/lab") / f"{topology.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def lab_keys(workdir: Path) -> tuple[Path, Path]:
    """(private, public) signing key paths in WORKDIR/keys, generated if absent."""
    directory = workdir / "keys"
    private, public = directory / "bundle-signing.key", directory / "bundle-signing.pub"
    if not (private.exists() and public.exists()):
        try:
            private, public = fp.write_keypair(directory)
        except fp.BundleError as exc:
            raise LabError(f"cannot write the lab's signing keys: {exc}") from exc
    return private.resolve(), public.resolve()


def _emulator_argv(topology: Topology, workdir: Path, public_key: Path,
                   libvirt_uri: str) -> list[str]:
    """`fleetflash emulator serve` for the topology: one BMC per node, in file order."""
    nodes = [nodes_file_entry(node) for node in topology.nodes]
    nodes_file = workdir / "emulator-nodes.json"
    nodes_file.write_text(json.dumps(nodes, indent=1) + "\n", encoding="utf-8")
    timings = topology.emulator
    argv = [*procs.FLEETFLASH, "emulator", "serve", "--nodes-file", str(nodes_file),
            "--base-port", "0", "--trusted-key", str(public_key),
            "--flash-seconds", str(timings.flash_seconds),
            "--reset-seconds", str(timings.reset_seconds),
            "--bmc-restart-seconds", str(timings.bmc_restart_seconds),
            "--libvirt-uri", libvirt_uri, "--audit-log", str(workdir / "audit.jsonl"),
            "--inventory-out", str(workdir / "inventory.json")]
    index = {node.name: i for i, node in enumerate(topology.nodes)}
    for fault in topology.faults:
        params = ",".join(f"{key}={value}" for key, value in fault.params.items())
        argv += ["--fault", f"{bmc_id(index[fault.node])}={fault.kind.value}"
                            + (f":{params}" if params else "")]
    return argv


def nodes_file_entry(node: Node) -> dict[str, object]:
    """One node of the emulator's --nodes-file: model, starting firmware and, when the
    topology names one, the BMC personality (its quirks and identity come with it)."""
    entry: dict[str, object] = {"model": node.model, "firmware": dict(node.firmware)}
    if node.personality is not None:
        entry["personality"] = node.personality
    return entry


def bmc_id(index: int) -> str:
    """The emulator's id of BMC number `index` (emulator.cluster names them so)."""
    return f"bmc-{index:04d}"


def lab_up(options: UpOptions, *, keys: tuple[Path, Path] | None = None) -> LabState:
    """Start the lab described by `options` and write its state file.

    `keys`: an existing (private, public) key pair to trust instead of WORKDIR/keys.
    Raises LabError (or TopologyError for a bad topology); nothing keeps running then.
    """
    if options.database not in DATABASES:
        raise LabError(f"--database must be one of {', '.join(DATABASES)}")
    if not 1 <= options.gateways <= MAX_GATEWAYS:
        raise LabError(f"--gateways must be between 1 and {MAX_GATEWAYS}")
    if options.gateways > 1 and options.database != "postgresql":
        raise LabError("several gateways share one database: use --database postgresql")
    topology = load_topology(options.topology)
    if not topology.nodes:
        raise LabError(f"{options.topology}: the topology has no cluster nodes to run "
                       "(a matrix-only topology is for `fleetflash validate`)")
    if options.state_file.exists():
        try:
            previous = read_state(options.state_file)
        except LabError:
            previous = None
        if previous is not None and any(procs.running(pid, marker(name))
                                        for name, pid in previous.pids().items()):
            raise LabError(f"a lab is already running with state file {options.state_file}; "
                           "stop it with `fleetflash lab down` or pass another --state-file")
    workdir = (options.workdir or default_workdir(topology)).resolve()
    if (workdir / "gateway").exists():
        raise LabError(f"{workdir} already holds a lab's gateway state; "
                       "pick a new --workdir (nothing there is removed)")
    workdir.mkdir(parents=True, exist_ok=True)
    private_key, public_key = keys or lab_keys(workdir)
    started: dict[str, int] = {}
    rigs: dict[str, lab_slurm.SlurmRig] = {}
    try:
        return _start(topology, options, workdir, private_key, public_key, started, rigs)
    except BaseException:
        for name in sorted(started, key=_stop_order):
            procs.stop(started[name], marker(name))
        for rig in rigs.values():
            lab_slurm.stop(rig)
        raise


def _start(topology: Topology, options: UpOptions, workdir: Path, private_key: Path,
           public_key: Path, started: dict[str, int],
           rigs: dict[str, lab_slurm.SlurmRig]) -> LabState:
    emulator = procs.spawn("emulator", _emulator_argv(topology, workdir, public_key,
                                                      options.libvirt_uri), workdir)
    started["emulator"] = emulator.pid
    inventory_file = workdir / "inventory.json"
    admin_file = workdir / "inventory.admin.json"
    procs.wait_until("emulator", lambda: inventory_file.exists() and admin_file.exists(),
                     emulator, workdir, START_TIMEOUT_S)
    inventory = json.loads(inventory_file.read_text(encoding="utf-8"))
    admin = json.loads(admin_file.read_text(encoding="utf-8"))
    power_on(inventory)

    site = workdir / "publisher"
    site.mkdir(exist_ok=True)
    publisher_port = procs.free_port()
    publisher = procs.spawn("publisher", [*procs.PYTHON, "lab.lab_publisher",
                                          str(site), str(publisher_port)], workdir)
    started["publisher"] = publisher.pid
    publisher_url = f"http://127.0.0.1:{publisher_port}/bundles/"
    procs.wait_until("publisher", lambda: procs.answers(publisher_url + "none.iso"),
                     publisher, workdir, 30)

    for cluster in topology.clusters:
        if cluster.manager == "slurm":
            rigs[cluster.name] = lab_slurm.start(
                workdir / "slurm" / cluster.name, cluster.node_names, cluster=cluster.name)

    database_url, database_state = _database(options, started)
    cim_password = secrets.token_urlsafe(18)
    gateways: list[dict[str, Any]] = []
    for index in range(options.gateways):
        endpoints = LabEndpoints(
            workdir=workdir, listener_port=procs.free_port(), media_port=procs.free_port(),
            api_port=procs.free_port(), publisher_url=publisher_url,
            cim_username=CIM_USERNAME, cim_password_hash=hash_password(cim_password),
            trusted_key=public_key, bmcs=inventory,
            slurm_confs={name: rig.conf for name, rig in rigs.items()},
            events_port=procs.free_port())
        suffix = "" if index == 0 else f"-{index + 1}"
        config_path = workdir / f"gateway{suffix}.toml"
        config_path.write_text(member_config(
            render_gateway_config(topology, endpoints), suffix=suffix,
            state_dir=workdir / ("gateway" + suffix), database_url=database_url,
            first_state_dir=workdir / "gateway"), encoding="utf-8")
        config_path.chmod(0o600)
        gateways.append({"process": f"gateway{suffix}", "config": config_path,
                         "endpoints": endpoints})
    api_token = admin_token(gateways[0]["config"])  # one database: valid on every gateway
    listed: list[dict[str, Any]] = []
    for entry in gateways:
        endpoints = entry["endpoints"]
        process = start_member(entry["process"], entry["config"], workdir,
                               endpoints.api_port, endpoints.listener_port)
        started[entry["process"]] = process.pid
        api_url = f"http://127.0.0.1:{endpoints.api_port}"
        listed.append({"name": _gateway_name(entry["config"]), "pid": process.pid,
                       "api_url": api_url,
                       "cim_url": f"http://127.0.0.1:{endpoints.listener_port}",
                       "media_url": f"http://127.0.0.1:{endpoints.media_port}",
                       "config": str(entry["config"])})
    first = listed[0]
    return write_state(options.state_file.resolve(), {
        "topology": str(options.topology.resolve()), "name": topology.name,
        "workdir": str(workdir), "started_at": datetime.now(UTC).isoformat(),
        "gateway": {"cim_url": first["cim_url"], "cim_username": CIM_USERNAME,
                    "cim_password": cim_password, "api_url": first["api_url"],
                    "api_token": api_token, "config": first["config"], "pid": first["pid"],
                    "media_url": first["media_url"]},
        "gateways": listed,
        "database": database_state,
        "publisher": {"url": publisher_url, "pid": publisher.pid, "dir": str(site)},
        "emulator": {"inventory": inventory, "pid": emulator.pid,
                     "admin_url": admin["admin_url"], "admin_token": admin["admin_token"],
                     "libvirt_uri": options.libvirt_uri},
        "nodes": {node.name: bmc_id(i) for i, node in enumerate(topology.nodes)},
        "audit_log": str(workdir / "audit.jsonl"),
        "keys": {"public": str(public_key), "private": str(private_key)},
        "logs": str(workdir / "logs"),
        "slurm": {name: {"root": str(rig.root), "conf": str(rig.conf), "nodes": list(rig.nodes),
                         "partition": rig.partition, "pids": rig.pids}
                  for name, rig in rigs.items()},
    })


def _database(options: UpOptions, started: dict[str, int]) -> tuple[str, dict[str, Any]]:
    """("" for the gateways' default SQLite, or the URL of the lab's PostgreSQL), and what
    the state file records about it."""
    if options.database != "postgresql":
        return "", {"kind": "sqlite"}
    try:
        server = start_postgres()  # a temp dir: initdb's user must reach it (root: nobody)
        pid = server.pid()
        if pid is not None:
            started["postgres"] = pid
        url = server.create_database("fleetflash")
    except PostgresError as exc:
        raise LabError(f"database: {exc}") from exc
    return url, {"kind": "postgresql", "url": url, "dir": str(server.root), "pid": pid}


def _gateway_name(config_path: Path) -> str:
    try:
        return load_config(config_path).name
    except ConfigError as exc:
        raise LabError(f"{config_path}: {exc}") from exc


def lab_down(state: LabState) -> dict[str, bool]:
    """Stop the gateway, publisher and emulator (in that order, so nothing touches a BMC
    that is going away). Files stay. Returns name -> whether it was running."""
    stopped = {name: procs.stop(pid, marker(name))
               for name, pid in sorted(state.pids().items(),
                                       key=lambda item: _stop_order(item[0]))}
    for name, rig in (state.document.get("slurm") or {}).items():
        pids = {daemon: int(pid) for daemon, pid in rig["pids"].items()}
        stopped[f"slurm {name}"] = lab_slurm.stop_pids(pids, Path(rig["root"]),
                                                       Path(rig["conf"]), rig["nodes"])
    write_state(state.path, {**state.document, "stopped_at": datetime.now(UTC).isoformat()})
    return stopped


__all__ = ["LabError", "TopologyError", "UpOptions", "lab_down", "lab_up"]
