"""CLI groups of the gateway: `fleetflash gateway ...` and `fleetflash alerts ...`."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NamedTuple, NoReturn

import click
from rich.console import Console
from rich.table import Table

from gateway.config import ConfigError, GatewayConfig, hash_password, load_config
from gateway.intake.errors import IntakeError
from gateway.intake.service import CHANNEL_CLI, IntakeService, Outcome
from gateway.serve_options import log_to_stderr, serve_until_stopped, verbose_option
from gateway.store import DatabaseUnavailableError, Decision, GatewayStore, StoreError

_DECISION_STYLE: dict[str, str] = {Decision.ACCEPTED: "green", Decision.DUPLICATE: "cyan",
                   Decision.WITHDRAWN: "magenta", Decision.IGNORED: "dim",
                   Decision.REJECTED: "red"}

config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False),
    help="Gateway TOML configuration (see docs/configuration.md).")


def _load(config_path: str) -> GatewayConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


# The database could not be reached at start-up: distinct from a bad configuration
# (exit 1), so a supervisor can tell "retry later" from "fix the file".
EXIT_DATABASE_UNAVAILABLE = 2


def _unavailable(exc: DatabaseUnavailableError) -> NoReturn:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(EXIT_DATABASE_UNAVAILABLE)


def _store(config: GatewayConfig) -> GatewayStore:
    try:
        return GatewayStore.open(config.database_url)
    except DatabaseUnavailableError as exc:
        _unavailable(exc)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def gateway() -> None:
    """Run and administer the update gateway."""


@gateway.command()
@config_option
@verbose_option
def serve(config_path: str, verbose: bool) -> None:
    """Run the gateway (CIM listener and image acquisition) until interrupted."""
    from gateway.service import Gateway, GatewayStartError, build_gateway  # slow (pywbem)

    log_to_stderr(verbose)
    config = _load(config_path)

    def start() -> Gateway:
        try:
            running = build_gateway(config)
            running.start()
        except DatabaseUnavailableError as exc:
            _unavailable(exc)
        except (GatewayStartError, StoreError) as exc:
            raise click.ClickException(str(exc)) from exc
        return running

    serve_until_stopped(start, lambda _: click.echo(
        f"gateway {config.name} running; state in {config.state_dir}", err=True))


@gateway.command("hash-password")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The listener password for a source (prompted when omitted).")
def hash_password_command(password: str) -> None:
    """Print the password_hash value for a [[sources]] entry."""
    click.echo(hash_password(password))


@gateway.command("images")
@config_option
def images_command(config_path: str) -> None:
    """List known update images and their acquisition state."""
    store = _store(_load(config_path))
    table = Table(title="Update images")
    for column in ("sha256", "state", "bundle", "release", "source", "attempts", "reason"):
        table.add_column(column)
    for image in store.list_images():
        table.add_row(image.sha256[:16] + "…", str(image.state), image.bundle_id, image.release,
                      image.source, str(image.attempts), image.reason)
    Console(width=160).print(table)


@click.group()
def alerts() -> None:
    """See and raise update alerts."""


@alerts.command("list")
@config_option
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000),
              help="Show at most this many alerts, newest first.")
def list_alerts(config_path: str, limit: int) -> None:
    """Show what arrived and what was done with it."""
    store = _store(_load(config_path))
    print_alert_table(
        AlertLine(alert.received_at.strftime("%Y-%m-%d %H:%M:%S"), alert.channel,
                 alert.indication_identifier, alert.source, alert.message_id,
                 alert.decision, alert.reason)
        for alert in store.list_alerts(limit))


class AlertLine(NamedTuple):
    """One line of `alerts list`; `received` is "YYYY-MM-DD HH:MM:SS" UTC, `channel` one of
    cim / rest / cli / usb, `decision` a Decision value."""

    received: str
    channel: str
    indication_identifier: str | None
    source: str | None
    message_id: str | None
    decision: str
    reason: str


def print_alert_table(rows: Iterable[AlertLine]) -> None:
    """Print alerts as one table, newest first as given (database and API mode alike)."""
    table = Table(title="Alerts (newest first)")
    for column in ("time (UTC)", "channel", "IndicationIdentifier", "source", "MessageID",
                   "decision", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = _DECISION_STYLE.get(row.decision, "")
        table.add_row(row.received, row.channel, row.indication_identifier or "-",
                      row.source or "-", row.message_id or "-", f"[{style}]{row.decision}[/]",
                      row.reason)
    Console(width=200).print(table)


def _report(outcome: Outcome) -> None:
    click.echo(f"alert {outcome.alert_id}: {outcome.decision} ({outcome.reason})")
    if outcome.refused:
        sys.exit(1)


@alerts.command("raise")
@config_option
@click.option("--source", required=True, help="Configured source the image comes from.")
@click.option("--image-uri", required=True, help="http(s) URL of the bundle ISO.")
@click.option("--sha256", "image_sha256", required=True, help="SHA-256 of the whole image.")
@click.option("--bundle-id", required=True)
@click.option("--release", required=True)
@click.option("--manifest-uri", default=None, help="Optional URL of the bundle's manifest.")
@click.option("--description", default=None)
def raise_command(config_path: str, source: str, image_uri: str, image_sha256: str,
                  bundle_id: str, release: str, manifest_uri: str | None,
                  description: str | None) -> None:
    """Announce an update image (FWUP0001) for sites without a CIM publisher.

    The same trust rules apply as to CIM alerts; a running gateway with the
    same configuration picks the image up within its poll interval.
    """
    config = _load(config_path)
    intake = IntakeService(config, _store(config))
    try:
        outcome = intake.raise_alert(source=source, image_uri=image_uri,
                                     image_sha256=image_sha256, bundle_id=bundle_id,
                                     release=release, manifest_uri=manifest_uri,
                                     description=description, channel=CHANNEL_CLI)
    except (IntakeError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    _report(outcome)


@alerts.command("withdraw")
@config_option
@click.option("--source", required=True, help="Configured source that announced the image.")
@click.option("--bundle-id", required=True)
@click.option("--sha256", "image_sha256", required=True)
def withdraw_command(config_path: str, source: str, bundle_id: str, image_sha256: str) -> None:
    """Withdraw an image (FWUP0002): its campaigns start no new nodes."""
    config = _load(config_path)
    intake = IntakeService(config, _store(config))
    try:
        outcome = intake.withdraw_image(source=source, bundle_id=bundle_id,
                                        image_sha256=image_sha256, channel=CHANNEL_CLI)
    except (IntakeError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    _report(outcome)


def _register_onboarding() -> None:
    from gateway.onboarding.cli import init_command

    gateway.add_command(init_command)


_register_onboarding()
