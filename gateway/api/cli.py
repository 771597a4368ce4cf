"""CLI groups of the operator interfaces.

`fleetflash tokens ...` works on the gateway's database directly (it is how
the first admin token comes to exist). `images`, `alerts list --api-url` and
the groups in gateway.api.cli_campaigns talk to a running gateway's API with a
token: --token or FLEETFLASH_TOKEN, --api-url or FLEETFLASH_API_URL, and
--ca-cert or FLEETFLASH_CA_CERT for a gateway with a self-signed certificate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from gateway.api.auth import Role, TokenError, TokenStore
from gateway.api.client import ApiClient, ApiClientError
from gateway.config import ConfigError, load_config
from gateway.store import Decision, GatewayStore, StoreError

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_API_URL = "http://127.0.0.1:8000"
CONSOLE_WIDTH = 160


def console() -> Console:
    return Console(width=CONSOLE_WIDTH)


def api_options(command: F) -> F:
    """Add --api-url/--token/--ca-cert and pass an ApiClient as `client`."""

    @click.option("--api-url", envvar="FLEETFLASH_API_URL", default=DEFAULT_API_URL,
                  show_default=True, help="Base URL of the gateway API [env FLEETFLASH_API_URL].")
    @click.option("--token", envvar="FLEETFLASH_TOKEN", required=True,
                  help="API token [env FLEETFLASH_TOKEN].")
    @click.option("--ca-cert", envvar="FLEETFLASH_CA_CERT", default=None,
                  type=click.Path(exists=True, dir_okay=False),
                  help="CA or self-signed certificate of the gateway [env FLEETFLASH_CA_CERT].")
    @functools.wraps(command)
    def wrapper(api_url: str, token: str, ca_cert: str | None, **kwargs: Any) -> Any:
        client = ApiClient(api_url, token, verify=ca_cert or True)
        try:
            return command(client=client, **kwargs)
        except ApiClientError as exc:
            field = f" (field: {exc.field})" if exc.field else ""
            status = f"{exc.status}: " if exc.status else ""
            raise click.ClickException(f"{status}{exc}{field}") from exc

    return wrapper  # type: ignore[return-value]


# -- tokens (direct database access) -------------------------------------------------------

def _tokens(config_path: str) -> TokenStore:
    try:
        config = load_config(config_path)
        return TokenStore.for_store(GatewayStore.open(config.database_url))
    except (ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc


config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False),
    envvar="FLEETFLASH_CONFIG", help="Gateway TOML configuration [env FLEETFLASH_CONFIG].")


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens (on the gateway's own database)."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]),
              help="viewer (read), operator (campaign actions) or admin (everything).")
@config_option
def create_token(name: str, role: str, config_path: str) -> None:
    """Create token NAME and print its secret once (only a hash is kept)."""
    try:
        info, secret = _tokens(config_path).create(name, role)
    except (TokenError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created token {info.name!r} with role {info.role.value}; "
               "store it now, it is not shown again:", err=True)
    click.echo(secret)


@tokens.command("list")
@config_option
def list_tokens(config_path: str) -> None:
    """List tokens: name, role, prefix, created, revoked (never the secret)."""
    try:
        rows = _tokens(config_path).list()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    table = Table(title="API tokens")
    for column in ("name", "role", "prefix", "created (UTC)", "revoked (UTC)"):
        table.add_column(column)
    for info in rows:
        table.add_row(info.name, info.role.value, info.prefix + "…",
                      info.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                      info.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if info.revoked_at else "-")
    console().print(table)


@tokens.command("revoke")
@click.argument("name")
@config_option
def revoke_token(name: str, config_path: str) -> None:
    """Revoke token NAME: it stops working at once (the API and dashboard sessions)."""
    try:
        _tokens(config_path).revoke(name)
    except (TokenError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {name!r} revoked")


# -- images and alerts (API clients) --------------------------------------------------------

@click.group()
def images() -> None:
    """Update images known to a running gateway."""


@images.command("list")
@click.option("--state", default=None, help="Only images in this state (e.g. verified).")
@api_options
def list_images(client: ApiClient, state: str | None) -> None:
    """List update images and their acquisition state."""
    table = Table(title="Update images")
    for column in ("sha256", "state", "bundle", "release", "source", "size", "reason"):
        table.add_column(column, overflow="fold")
    for image in client.get_all("/api/images", state=state):
        size = f"{image['size_bytes']:,}" if image["size_bytes"] is not None else "-"
        table.add_row(image["sha256"][:16] + "…", image["state"], image["bundle_id"],
                      image["release"], image["source"], size, image["reason"])
    console().print(table)


def print_alerts(items: list[dict[str, Any]]) -> None:
    """Render alerts as the API returns them (the same table as the database mode)."""
    from gateway.cli import AlertLine, print_alert_table

    print_alert_table(
        AlertLine(alert["received_at"][:19].replace("T", " "), alert["channel"],
                 alert["IndicationIdentifier"], alert["source"], alert["MessageID"],
                 alert["decision"], alert["reason"])
        for alert in items)


@click.command("list")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="Read the gateway's database directly (no running gateway needed).")
@click.option("--api-url", envvar="FLEETFLASH_API_URL", default=DEFAULT_API_URL,
              show_default=True, help="Base URL of the gateway API [env FLEETFLASH_API_URL].")
@click.option("--token", envvar="FLEETFLASH_TOKEN", default=None,
              help="API token [env FLEETFLASH_TOKEN]; needed unless --config is given.")
@click.option("--ca-cert", envvar="FLEETFLASH_CA_CERT", default=None,
              type=click.Path(exists=True, dir_okay=False), help="CA of the gateway.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 500),
              help="Show at most this many alerts, newest first.")
@click.option("--decision", default=None,
              type=click.Choice([decision.value for decision in Decision]))
@click.pass_context
def list_alerts(ctx: click.Context, config_path: str | None, api_url: str, token: str | None,
                ca_cert: str | None, limit: int, decision: str | None) -> None:
    """Show what arrived and what was decided: from the API, or the database with --config."""
    if config_path is not None:
        from gateway.cli import list_alerts as list_from_database

        if decision is not None:
            raise click.UsageError("--decision needs the API (drop --config)")
        ctx.invoke(list_from_database, config_path=config_path, limit=limit)
        return
    if not token:
        raise click.UsageError("give --token (or FLEETFLASH_TOKEN), or --config")
    client = ApiClient(api_url, token, verify=ca_cert or True)
    try:
        print_alerts(client.get("/api/alerts", limit=limit, decision=decision)["items"])
    except ApiClientError as exc:
        field = f" (field: {exc.field})" if exc.field else ""
        raise click.ClickException(f"{exc.status or ''} {exc}{field}".strip()) from exc


def _alerts_group() -> click.Group:
    """The intake's `alerts` group (raise, withdraw) with `list` able to use the API too."""
    from gateway.cli import alerts as intake_alerts

    group = click.Group("alerts", help=intake_alerts.help)
    for name, command in intake_alerts.commands.items():
        group.add_command(command, name)
    group.add_command(list_alerts, "list")
    return group


alerts = _alerts_group()
