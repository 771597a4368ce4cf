"""`fleetflash gateway init` (registered on the gateway group by gateway/cli.py)."""

from __future__ import annotations

from pathlib import Path

import click

from gateway.onboarding.errors import OnboardingError
from gateway.onboarding.init import InitOptions, init_gateway


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="", help="Gateway name [default: host name].")
@click.option("--listener", default="0.0.0.0:5989", show_default=True,
              help="HOST:PORT of the CIM-XML listener (HTTPS).")
@click.option("--api", "api", default="0.0.0.0:8443", show_default=True,
              help="HOST:PORT of the REST API and dashboard (HTTPS).")
@click.option("--media", default="0.0.0.0:8444", show_default=True,
              help="HOST:PORT of the media server BMCs fetch images from (HTTPS).")
@click.option("--host-name", "host_names", multiple=True,
              help="Name or address for the self-signed certificate (repeatable); the "
                   "first one is also media.base_url's host [default: this host].")
@click.option("--cert", "certfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Your own PEM certificate (chain) instead of a self-signed one.")
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="The private key of --cert.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Database and image cache [default: DIRECTORY/state].")
def init_command(directory: Path, name: str, listener: str, api: str, media: str,
                 host_names: tuple[str, ...], certfile: Path | None,
                 keyfile: Path | None, state_dir: Path | None) -> None:
    """Set up DIRECTORY: a working gateway.toml, state dir, TLS and an admin token."""
    options = InitOptions(name=name, listener=listener, api=api, media=media,
                          host_names=host_names, certfile=certfile, keyfile=keyfile,
                          state_dir=state_dir.absolute() if state_dir else None)
    try:
        result = init_gateway(directory, options)
    except OnboardingError as exc:
        raise click.ClickException(str(exc)) from exc
    kind = "self-signed certificate" if result.self_signed else "your certificate"
    click.echo(f"wrote {result.config_path}", err=True)
    click.echo(f"TLS: {kind}, SHA-256 {result.fingerprint}", err=True)
    click.echo(f"start: fleetflash gateway serve --config {result.config_path}", err=True)
    click.echo("admin API token (shown once, only its hash is kept):", err=True)
    click.echo(result.token)


@click.command("doctor")
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), envvar="FLEETFLASH_CONFIG",
              help="Gateway TOML configuration [env FLEETFLASH_CONFIG].")
@click.option("--bmc-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 120),
              help="Seconds to wait for each BMC answer.")
def doctor_command(config_path: Path, bmc_timeout: float) -> None:
    """Check a configuration: ports, database, keys, BMCs, clocks, cache space.

    One line per check with its fix; exits 1 when something blocks a rollout."""
    from gateway.onboarding.doctor import FAIL, run_doctor

    failed = 0
    for finding in run_doctor(config_path, bmc_timeout=bmc_timeout):
        click.echo(finding.line())
        failed += finding.status == FAIL
    click.echo(f"{failed} problem(s) block a rollout" if failed else "nothing blocks a rollout",
               err=True)
    if failed:
        raise SystemExit(1)
