"""`fleetflash lab ...`: bring an emulated data centre up, look at it, publish an
update to it, take it down, or run the whole autonomous demo (docs/lab.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

from lab.lab_state import LabError, read_state
from lab.runner import (
    DATABASES,
    DEFAULT_LIBVIRT_URI,
    MAX_GATEWAYS,
    UpOptions,
    lab_down,
    lab_up,
)
from lab.topology import TopologyError

P = ParamSpec("P")
R = TypeVar("R")
TOPOLOGIES = Path(__file__).resolve().parent / "topologies"
DEFAULT_STATE_FILE = Path("var/lab/lab-state.json")

state_file_option = click.option(
    "--state-file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_STATE_FILE,
    show_default=True, help="The lab's JSON state file (written by `lab up`).")


def _topology_path(value: str) -> Path:
    """A topology file: a path, or the name of a shipped one ("demo", "rack-1000")."""
    path = Path(value)
    if path.exists() or path.suffix:
        return path
    return TOPOLOGIES / f"{value}.yaml"


def _one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Lab and topology errors become a click error (one message, exit 1, no traceback)."""
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (LabError, TopologyError) as exc:
            raise click.ClickException(str(exc)) from exc
    return wrapper


@click.group()
def lab() -> None:
    """Emulated data centres from topology files, and the end-to-end demo."""


@lab.command()
@click.argument("topology")
@state_file_option
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keys, configs, logs and audit log (default var/lab/<topology>-<time>).")
@click.option("--libvirt-uri", default=DEFAULT_LIBVIRT_URI, show_default=True,
              help="Host backend of the emulated BMCs (qemu:///system: real QEMU guests).")
@click.option("--gateways", "gateways", type=click.IntRange(1, MAX_GATEWAYS), default=1,
              show_default=True, help="Gateways sharing one database (needs postgresql).")
@click.option("--database", type=click.Choice(DATABASES), default="sqlite",
              show_default=True,
              help="The gateways' store: SQLite, or a private PostgreSQL server.")
@_one_line_errors
def up(topology: str, state_file: Path, workdir: Path | None, libvirt_uri: str,
       gateways: int, database: str) -> None:
    """Start the emulator, publisher and gateway(s) for TOPOLOGY (a file, or "demo")."""
    state = lab_up(UpOptions(_topology_path(topology), state_file, workdir, libvirt_uri,
                             gateways=gateways, database=database))
    console = Console()
    console.print(f"lab [bold]{state.get('name')}[/] is up: "
                  f"{len(state.get('emulator.inventory'))} BMCs")
    console.print(f"  gateway API   {state.api_url}  (dashboard; token in the state file)")
    console.print(f"  CIM listener  {state.get('gateway.cim_url')}")
    for entry in state.document.get("gateways", [])[1:]:
        console.print(f"  gateway {entry['name']}  API {entry['api_url']}  "
                      f"CIM {entry['cim_url']}")
    if state.document.get("database", {}).get("kind") == "postgresql":
        console.print(f"  database      {state.get('database.url')}")
    console.print(f"  publisher     {state.get('publisher.url')}")
    console.print(f"  state file    {state.path}")
    console.print(f"  logs          {state.get('logs')}")
    console.print("next: fleetflash lab publish --state-file "
                  f"{state.path}   (announce the sample bundle)")


@lab.command()
@state_file_option
@_one_line_errors
def down(state_file: Path) -> None:
    """Stop every process of the lab; keys, configs, logs and audit log stay."""
    state = read_state(state_file)
    for name, was_running in lab_down(state).items():
        click.echo(f"{name}: {'stopped' if was_running else 'was not running'}")
    click.echo(f"files kept in {state.workdir}")


@lab.command()
@state_file_option
@_one_line_errors
def status(state_file: Path) -> None:
    """Show the lab's processes, nodes and campaigns."""
    from lab.lab_status import lab_status_tables

    Console(width=140).print(lab_status_tables(read_state(state_file)))


@lab.command()
@click.argument("bundle", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@state_file_option
@_one_line_errors
def publish(bundle: Path | None, state_file: Path) -> None:
    """Put BUNDLE (default: the sample bundle signed with the lab's key) on the lab's
    publisher and send the update alert to the gateway."""
    from lab.lab_publisher import publish as publish_bundle

    announced = publish_bundle(read_state(state_file), bundle)
    click.echo(f"announced {announced.bundle_id} {announced.release} "
               f"sha256={announced.sha256}")
    click.echo(f"ImageURI {announced.image_uri}")


@lab.command()
@click.argument("topology", default="demo")
@click.option("--topology", "topology_option", default=None,
              help="Same as the TOPOLOGY argument (e.g. --topology hpc-slurm).")
@state_file_option
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keys, configs, logs and audit log (default var/lab/<topology>-<time>).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(10, 3600), default=170.0,
              show_default=True, help="Seconds the rollout may take before the demo fails.")
@click.option("--keep-running", is_flag=True,
              help="Leave the lab up afterwards (stop it with `fleetflash lab down`).")
@click.option("--libvirt-uri", default=DEFAULT_LIBVIRT_URI, show_default=True,
              help="Host backend of the emulated BMCs.")
@_one_line_errors
def demo(topology: str, topology_option: str | None, state_file: Path, workdir: Path | None,
         timeout_s: float, keep_running: bool, libvirt_uri: str) -> None:
    """The autonomous end-to-end demo on TOPOLOGY (default demo.yaml): exit 0 only if
    every invariant holds."""
    from lab.lab_demo import run_demo

    console = Console(width=120)
    result = run_demo(_topology_path(topology_option or topology), state_file=state_file,
                      workdir=workdir, console=console, timeout_s=timeout_s,
                      keep_running=keep_running, libvirt_uri=libvirt_uri)
    failed = [check.name for check in result.checks if not check.ok]
    if failed:
        console.print(f"[red]demo FAILED[/] in {result.elapsed_s:.0f} s: {', '.join(failed)}")
        raise SystemExit(1)
    console.print(f"[green]demo passed[/] in {result.elapsed_s:.0f} s: "
                  f"{len(result.checks)} checks hold")
