"""`fleetflash bmcs ...`: the persistent BMC registry, on the gateway's own database
(like `fleetflash tokens`): import, add, list, remove, discover."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.onboarding.errors import OnboardingError
from gateway.onboarding.importers import FORMATS, HostVars, ImportDefaults, detect_format
from gateway.onboarding.registry import import_inventory, register, unregister
from gateway.store import GatewayStore, StoreError
from gateway.store.bmc_registry import BmcRegistry

config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False),
    envvar="FLEETFLASH_CONFIG", help="Gateway TOML configuration [env FLEETFLASH_CONFIG].")


@contextmanager
def _registry(config_path: str) -> Iterator[tuple[GatewayConfig, BmcRegistry]]:
    """The config and the BMC registry in its database, closed afterwards. What the
    config, the database or the onboarding rules refuse becomes a click error (exit 1,
    the reason, no traceback)."""
    try:
        config = load_config(config_path)
        store = GatewayStore.open(config.database_url)
    except (ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield config, BmcRegistry(store.engine)
    except (OnboardingError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


@click.group()
def bmcs() -> None:
    """Register BMCs in the gateway's database (they survive restarts)."""


@bmcs.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@config_option
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Inventory format [default: from the file name].")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--partial", is_flag=True,
              help="Take the good rows even when some are refused (default: all or nothing).")
@click.option("--cluster", default="", help="Cluster for rows that name none.")
@click.option("--group", default="", help="Group for rows that name none.")
@click.option("--username", default="", help="BMC user for rows that name none.")
@click.option("--tls", default="", help="TLS mode for rows that set none (verify, pin, "
                                        "insecure).")
@click.option("--var", "variables", multiple=True, metavar="ROLE=NAME",
              help="Read another inventory variable / NetBox custom field, e.g. "
                   "address=ipmi_host (roles: address, url, user, password_file, "
                   "password_env, password, cluster, group).")
def import_command(file: Path, config_path: str, fmt: str | None, dry_run: bool,
                   partial: bool, cluster: str, group: str, username: str, tls: str,
                   variables: tuple[str, ...]) -> None:
    """Register the BMCs of FILE: CSV, Ansible YAML/INI inventory or NetBox JSON."""
    with _registry(config_path) as (config, registry):
        data = file.read_bytes()
        pairs = dict(v.partition("=")[::2] for v in variables)
        defaults = ImportDefaults(cluster=cluster, group=group, username=username, tls=tls,
                                  variables=HostVars.with_overrides(pairs))
        outcome = import_inventory(config, registry, str(file), data,
                                   fmt or detect_format(file, data), defaults,
                                   dry_run=dry_run, partial=partial)
    plan = outcome.plan
    verb = "" if outcome.applied else "would "
    for entry in plan.added:
        click.echo(f"{verb}add    {entry['name']}  {entry.get('url', '')}")
    for before, after in plan.updated:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        click.echo(f"{verb}update {after['name']}  ({', '.join(changed)})")
    for problem in plan.problems:
        click.echo(f"refused {problem}", err=True)
    if plan.problems and not partial and not dry_run:
        click.echo("nothing imported: fix the rows above, or pass --partial to take "
                   "the good ones", err=True)
    click.echo(outcome.summary(), err=True)
    if plan.problems:
        sys.exit(1)


@bmcs.command("add")
@click.argument("name")
@config_option
@click.option("--cluster", required=True)
@click.option("--group", required=True)
@click.option("--url", required=True, help="The BMC's Redfish service root, https://HOST.")
@click.option("--username", required=True)
@click.option("--password-file", default="", help="File holding the password.")
@click.option("--password-env", default="", help="Environment variable of the gateway "
                                                 "holding the password.")
@click.option("--tls", default="", help="verify (default), pin or insecure.")
@click.option("--fingerprint", default="", help="SHA-256 of the BMC's certificate (pin).")
def add_command(name: str, config_path: str, **options: str) -> None:
    """Register (or replace) one BMC."""
    entry: dict[str, Any] = {"name": name, **{k: v for k, v in options.items() if v}}
    if "password_file" in entry:  # as typed: relative to where the command runs
        entry["password_file"] = str(Path(entry["password_file"]).absolute())
    with _registry(config_path) as (config, registry):
        register(config, registry, entry, origin="cli")
    click.echo(f"registered BMC {name!r}")


@bmcs.command("remove")
@click.argument("name")
@config_option
def remove_command(name: str, config_path: str) -> None:
    """Remove one registered BMC."""
    with _registry(config_path) as (_config, registry):
        unregister(registry, name)
    click.echo(f"removed BMC {name!r} from the registry; a running gateway keeps managing "
               "it until its next start")


@bmcs.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(config_path: str, as_json: bool) -> None:
    """List every BMC: the config file's [[bmcs]] and the registry's."""
    with _registry(config_path) as (config, registry):
        registered = registry.registrations()
    rows = [("config", bmc.model_dump(mode="json", exclude_unset=True))
            for bmc in config.file.bmcs]
    rows += [(r.origin, dict(r.entry)) for r in registered]
    if as_json:
        click.echo(json.dumps([{"source": s, **e} for s, e in rows], indent=2))
        return
    table = Table(title="BMCs")
    for column in ("name", "cluster", "group", "url", "source"):
        table.add_column(column)
    for source, entry in rows:
        table.add_row(str(entry.get("name")), str(entry.get("cluster")),
                      str(entry.get("group")), str(entry.get("url")), source)
    Console(width=160).print(table)


def _register_discover() -> None:
    from gateway.onboarding.discover_cli import discover_command

    bmcs.add_command(discover_command)


_register_discover()
