"""`fleetflash publish`: announce (FWUP0001) or withdraw (FWUP0002) an update bundle.

    fleetflash publish BUNDLE.iso --gateway URL [--user U --password P]
                       [--serve-port P | --base-url URL] [--manifest-uri]
    fleetflash publish --withdraw BUNDLE_ID --sha256 HEX --gateway URL
"""

from __future__ import annotations

import hashlib
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from pywbem import CIMInstance

import firmware_payloads as fp
from emulator.publisher.sender import (
    DEFAULT_OWNING_ENTITY,
    PublishError,
    send_indication,
    update_available_indication,
    withdrawn_indication,
)
from emulator.publisher.server import MANIFEST_SUFFIX, BundleServer


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@click.command()
@click.argument("bundle", required=False, type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path))
@click.option("--gateway", "gateway_url", required=True,
              help="Gateway listener URL, e.g. https://gw.example.com:5989")
@click.option("--user", default=None, help="Listener user name of this source.")
@click.option("--password", default=None, envvar="FLEETFLASH_PUBLISH_PASSWORD",
              help="Listener password (or set FLEETFLASH_PUBLISH_PASSWORD).")
@click.option("--serve-port", type=click.IntRange(0, 65535), default=None,
              help="Serve the bundle on this port (0: any free port) and keep serving.")
@click.option("--serve-host", default="127.0.0.1", show_default=True,
              help="Address to serve on; also the host name put in ImageURI.")
@click.option("--base-url", default=None,
              help="The bundle is already hosted: ImageURI = BASE_URL + file name.")
@click.option("--manifest-uri", "with_manifest_uri", is_flag=True,
              help="Also send ManifestURI (served at <ImageURI>.manifest.json).")
@click.option("--owning-entity", default=DEFAULT_OWNING_ENTITY, show_default=True)
@click.option("--description", default=None, help="Short human summary of the bundle.")
@click.option("--withdraw", "withdraw_bundle_id", default=None, metavar="BUNDLE_ID",
              help="Send FWUP0002 for this bundle instead of announcing one.")
@click.option("--sha256", "withdraw_sha256", default=None, help="Image digest (--withdraw).")
@click.option("--insecure", is_flag=True, help="Do not verify the gateway's TLS certificate.")
@click.option("--ca-certs", default=None, help="CA bundle for the gateway's certificate.")
def publish(bundle: Path | None, gateway_url: str, user: str | None, password: str | None,
            serve_port: int | None, serve_host: str, base_url: str | None,
            with_manifest_uri: bool, owning_entity: str, description: str | None,
            withdraw_bundle_id: str | None, withdraw_sha256: str | None, insecure: bool,
            ca_certs: str | None) -> None:
    """Announce BUNDLE to a gateway (serving it), or withdraw a bundle with --withdraw."""
    send = {"user": user, "password": password, "verify_tls": not insecure,
            "ca_certs": ca_certs}
    if withdraw_bundle_id is not None:
        if bundle is not None or withdraw_sha256 is None:
            raise click.UsageError("--withdraw takes BUNDLE_ID and --sha256, not a BUNDLE file")
        indication = withdrawn_indication(bundle_id=withdraw_bundle_id,
                                          image_sha256=withdraw_sha256.lower(),
                                          owning_entity=owning_entity)
        _deliver(gateway_url, indication, send)
        click.echo(f"withdrawn {withdraw_bundle_id} ({withdraw_sha256})")
        return
    if bundle is None:
        raise click.UsageError("BUNDLE is required (or use --withdraw)")
    if serve_port is not None and base_url is not None:
        raise click.UsageError("--serve-port and --base-url are mutually exclusive")
    try:
        with fp.open_bundle(bundle) as reader:
            manifest = reader.manifest
    except fp.BundleError as exc:
        raise click.ClickException(f"{bundle}: {exc}") from exc
    sha256 = _sha256_of(bundle)
    server = None
    if base_url is not None:
        image_uri = base_url.rstrip("/") + "/" + bundle.name
    else:
        try:
            server = BundleServer([bundle], host=serve_host, port=serve_port or 0).start()
        except OSError as exc:
            raise click.ClickException(f"cannot serve on {serve_host}:{serve_port}: "
                                       f"{exc.strerror}") from exc
        image_uri = server.url_for(bundle)
    indication = update_available_indication(
        image_uri=image_uri, image_sha256=sha256, bundle_id=manifest.bundle_id,
        release=manifest.release, owning_entity=owning_entity,
        manifest_uri=image_uri + MANIFEST_SUFFIX if with_manifest_uri else None,
        description=description or f"{manifest.publisher}: {manifest.release}, "
                                   f"{len(manifest.packages)} packages")
    try:
        _deliver(gateway_url, indication, send)
    except click.ClickException:
        if server is not None:
            server.stop()
        raise
    click.echo(f"announced {manifest.bundle_id} {manifest.release} sha256={sha256}")
    click.echo(f"ImageURI {image_uri}")
    if server is not None:
        click.echo("serving the bundle; press Ctrl-C (or send SIGTERM) to stop")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda _signum, _frame: stop.set())
        try:
            stop.wait()
        finally:
            server.stop()
        click.echo("stopped serving")


def _deliver(gateway_url: str, indication: CIMInstance, send: Mapping[str, Any]) -> None:
    try:
        send_indication(gateway_url, indication, **send)
    except PublishError as exc:
        raise click.ClickException(str(exc)) from exc
