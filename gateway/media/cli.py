"""`fleetflash media ...`: run the media server alone, mint URLs, print the nginx site."""

from __future__ import annotations

import time

import click

from gateway.media.config import load_gateway_config
from gateway.media.errors import MediaError
from gateway.media.nginx import render_nginx_site
from gateway.media.server import MediaServer
from gateway.media.service import build_media
from gateway.serve_options import log_to_stderr, serve_until_stopped, verbose_option

config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False),
    help="Gateway TOML configuration; its [media] section (see docs/media.md).")


@click.group()
def media() -> None:
    """Serve verified images to BMCs (virtual media) over HTTP(S)."""


@media.command()
@config_option
@verbose_option
def serve(config_path: str, verbose: bool) -> None:
    """Run the media server alone until interrupted."""
    log_to_stderr(verbose)
    image_dir = ""

    def start() -> MediaServer:
        nonlocal image_dir
        try:
            server, _, settings = build_media(load_gateway_config(config_path))
            server.start()
        except MediaError as exc:
            raise click.ClickException(str(exc)) from exc
        image_dir = str(settings.image_dir)
        return server

    def ready(running: MediaServer) -> None:
        ports = ", ".join(f"{k} {v}" for k, v in running.bound_ports().items())
        click.echo(f"media server listening ({ports}); images from {image_dir}")

    serve_until_stopped(start, ready)


@media.command()
@config_option
@click.option("--image", "image_sha256", required=True, help="SHA-256 of a cached image.")
@click.option("--campaign", required=True, help="Campaign id the URL belongs to.")
@click.option("--node", required=True, help="Node (BMC) id the URL is for.")
@click.option("--ttl", type=click.IntRange(1, 366 * 86400), default=86400, show_default=True,
              help="Seconds until the URL expires (normally the campaign's end).")
@click.option("--filename", default="image.iso", show_default=True,
              help="Cosmetic last path segment (some BMCs require .iso).")
def url(config_path: str, image_sha256: str, campaign: str, node: str, ttl: int,
        filename: str) -> None:
    """Print a capability URL for one node (labs and troubleshooting)."""
    try:
        _, urls, _ = build_media(load_gateway_config(config_path))
        click.echo(urls.url_for(image_sha256=image_sha256, campaign_id=campaign, node_id=node,
                                expires_at=int(time.time()) + ttl, filename=filename))
    except MediaError as exc:
        raise click.ClickException(str(exc)) from exc


@media.command("nginx-site")
@config_option
@click.option("--listen", default="8080", show_default=True, help="nginx `listen` value.")
@click.option("--access-log", default="/var/log/nginx/fleetflash-media.log", show_default=True)
def nginx_site(config_path: str, listen: str, access_log: str) -> None:
    """Print the nginx server block fronting [media] nginx_root (see docs/media.md)."""
    try:
        server, _, settings = build_media(load_gateway_config(config_path))
    except MediaError as exc:
        raise click.ClickException(str(exc)) from exc
    if settings.nginx_root is None or settings.http is None:
        raise click.ClickException("set [media] nginx_root and http (nginx asks the gateway "
                                   "over loopback HTTP) first")
    host, port = settings.http
    gateway = f"{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"
    click.echo(render_nginx_site(listen=listen, media_root=settings.nginx_root,
                                 gateway=gateway, access_log=access_log), nl=False)
