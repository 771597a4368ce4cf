"""`fleetflash bmcs discover`: report Redfish services found by probe or SSDP, and
write them as an import CSV for the operator to review (`bmcs import`)."""

from __future__ import annotations

import csv
import re
import sys
import tomllib
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from gateway.config_schema import parse_host_port
from gateway.onboarding.discovery import (
    REDFISH,
    SSDP_GROUP,
    Found,
    parse_rules,
    probe,
    probe_urls,
    propose,
    ssdp_search,
)
from gateway.onboarding.errors import OnboardingError

CSV_HEADER = ["name", "cluster", "group", "url", "username", "password_file", "tls",
              "fingerprint"]


@click.command("discover")
@click.option("--probe", "targets", multiple=True, metavar="CIDR",
              help="Probe /redfish/v1/ on these addresses or CIDRs only (repeatable).")
@click.option("--port", "ports", multiple=True, type=click.IntRange(1, 65535),
              help="Port(s) to probe [default: the scheme's].")
@click.option("--scheme", default="https", show_default=True,
              type=click.Choice(["https", "http"]))
@click.option("--ssdp", is_flag=True, help="Send an SSDP M-SEARCH for Redfish services.")
@click.option("--ssdp-target", default="", metavar="HOST:PORT",
              help="Send the M-SEARCH to this host and port instead of the multicast group.")
@click.option("--ssdp-wait", default=3.0, show_default=True, type=click.FloatRange(0.1, 60))
@click.option("--username", default="", help="BMC user: read model, serial and firmware.")
@click.option("--password-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="File with the BMC password (with --username).")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 60))
@click.option("--rate", default=20.0, show_default=True, type=click.FloatRange(0.1, 1000),
              help="New probes per second, at most.")
@click.option("--workers", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--max-addresses", default=1024, show_default=True,
              type=click.IntRange(1, 65536), help="Refuse to probe more addresses than this.")
@click.option("--pin", is_flag=True,
              help="Record each HTTPS service's certificate SHA-256 (trust on first use: "
                   "review the CSV before importing it).")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, exists=True,
                                                       path_type=Path),
              help="TOML [[rules]] proposing cluster and group (docs/configuration.md).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the Redfish services found as an import CSV.")
def discover_command(targets: tuple[str, ...], ports: tuple[int, ...], scheme: str,
                     ssdp: bool, ssdp_target: str, ssdp_wait: float, username: str,
                     password_file: Path | None, timeout: float, rate: float, workers: int,
                     max_addresses: int, pin: bool, rules_path: Path | None,
                     output: Path | None) -> None:
    """Find Redfish services; nothing is registered (import the --output CSV)."""
    if not targets and not ssdp:
        raise click.UsageError("give --probe CIDR and/or --ssdp")
    try:
        rules = []
        if rules_path is not None:
            try:
                rules = parse_rules(tomllib.loads(rules_path.read_text(encoding="utf-8")),
                                    str(rules_path))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise OnboardingError(f"{rules_path}: not valid TOML: {exc}") from exc
        urls = probe_urls(list(targets), list(ports) or [0], scheme, max_addresses)
        if ssdp:
            target = SSDP_GROUP
            if ssdp_target:
                try:
                    target = parse_host_port(ssdp_target)
                except ValueError as exc:
                    raise OnboardingError(f"--ssdp-target {exc}") from None
            urls += [u for u in ssdp_search(target=target, wait_s=ssdp_wait) if u not in urls]
    except (OnboardingError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    credentials = None
    if username:
        if password_file is None:
            raise click.UsageError("--username needs --password-file")
        credentials = (username, password_file.read_text(encoding="utf-8").strip())
    found = [propose(f, rules) for f in probe(urls, credentials=credentials, timeout=timeout,
                                              rate_per_s=rate, workers=workers, pin=pin)]
    _print(found)
    services = [f for f in found if f.status == REDFISH]
    click.echo(f"{len(services)} Redfish service(s) among {len(found)} address(es)", err=True)
    if output is not None:
        _write_csv(output, services, username, password_file)
        click.echo(f"wrote {output}: review it, then `fleetflash bmcs import {output} "
                   "--config ...`", err=True)
    if not services:
        sys.exit(1)


def _print(found: list[Found]) -> None:
    table = Table(title="Discovery")
    for column in ("url", "status", "vendor", "model", "serial", "firmware", "proposed",
                   "SHA-256", "detail"):
        table.add_column(column, overflow="fold")
    for f in found:
        proposed = f"{f.cluster}/{f.group}" if f.cluster or f.group else ""
        table.add_row(f.url, f.status, f.vendor, f.model, f.serial, f.firmware, proposed,
                      f.fingerprint, f.detail)
    Console(width=220).print(table)


def _write_csv(path: Path, services: list[Found], username: str,
               password_file: Path | None) -> None:
    with path.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(CSV_HEADER)
        for f in services:
            name = _name(f.serial) or _name(f.url.split("://", 1)[1])
            writer.writerow([name, f.cluster, f.group, f.url, username,
                             str(password_file or ""), "pin" if f.fingerprint else "",
                             f.fingerprint])


def _name(text: str) -> str:
    """`text` as a BMC name (letters, digits, '.', '_', '-'; at most 64)."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", text).strip("-._")[:64]
