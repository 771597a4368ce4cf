"""nginx in front of the media directory, handing out the very same URLs.

Design (docs/media.md#nginx): nginx serves the bytes (sendfile, Range, HEAD) and
asks the gateway, through `auth_request`, whether each request may be served.
The gateway answers on AUTHORIZE_PATH exactly as the built-in server would
decide: authentic, unexpired token, image still verified, not withdrawn,
campaign running. On yes it returns 204 with the file's path relative to the
media root in X-Fleetflash-File; nginx serves that file with `try_files`. On no
it returns 403, which nginx turns into the same 404 the built-in server gives.

Why not nginx's secure_link: it cannot see withdrawal or campaign cancellation
(only the expiry in the URL), and its MD5 scheme is weaker than our HMAC.

Bytes served per image and node come from nginx's access log in the
`fleetflash` log format; `ingest_access_log` adds them to TransferCounters.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from gateway.addresses import client_ip
from gateway.media.capability import CapabilitySigner
from gateway.media.catalog import MediaCatalog
from gateway.media.errors import CapabilityError
from gateway.media.transfer_stats import TransferCounters

log = logging.getLogger(__name__)
AUTHORIZE_PATH = "/_fleetflash/authorize"
_DENY: tuple[int, list[tuple[str, str]]] = (403, [])


def authorize_for_nginx(signer: CapabilitySigner, catalog: MediaCatalog, media_root: str,
                        original_uri: str | None, peer: str | None
                        ) -> tuple[int, list[tuple[str, str]]]:
    """Decide an nginx auth_request subrequest: (204, headers) or (403, []).

    Only loopback peers are answered (nginx runs beside the gateway); the file
    must resolve inside `media_root`, so a catalog bug cannot expose other files.
    """
    if peer is None or not _is_loopback(peer):
        log.warning("media: refused an authorize request from non-loopback %s", peer)
        return _DENY
    parts = (original_uri or "").split("?", 1)[0].split("/")
    if len(parts) != 4 or parts[1] != "media" or not parts[3]:
        return _DENY
    try:
        grant = signer.verify(parts[2])
    except CapabilityError as exc:
        log.info("media: nginx request refused: %s", exc)
        return _DENY
    image = catalog.servable_image(grant)
    if image is None:
        return _DENY
    root = os.path.realpath(media_root)
    real = os.path.realpath(image.path)
    if os.path.commonpath([root, real]) != root or real == root:
        log.error("media: image %s is outside nginx_root %s; refusing", image.image_id, root)
        return _DENY
    relative = Path(os.path.relpath(real, root)).as_posix()
    return 204, [
        ("X-Fleetflash-File", relative),
        ("X-Fleetflash-Image", image.image_id),
        ("X-Fleetflash-Campaign", grant.campaign_id),
        ("X-Fleetflash-Node", grant.node_id),
    ]


def _is_loopback(address: str) -> bool:
    ip = client_ip(address)
    return ip is not None and ip.is_loopback


def render_nginx_site(*, listen: str, media_root: str | os.PathLike[str], gateway: str,
                      access_log: str | os.PathLike[str]) -> str:
    """The nginx `server { }` block (plus upstream and log_format) for the media URLs.

    listen: nginx listen value ("8080", "0.0.0.0:8443 ssl"); media_root: the
    directory holding verified images (the gateway's `[media] nginx_root`);
    gateway: HOST:PORT of the gateway's built-in media server (loopback).
    """
    return f"""\
log_format fleetflash '$msec $fleetflash_image $fleetflash_campaign $fleetflash_node '
                      '$status $body_bytes_sent';
upstream fleetflash_gateway {{
    server {gateway};
    keepalive 16;
}}
server {{
    listen {listen};
    access_log {access_log} fleetflash;
    sendfile on;
    tcp_nopush on;
    etag on;
    max_ranges 100;
    location /media/ {{
        limit_except GET {{ deny all; }}
        auth_request {AUTHORIZE_PATH};
        auth_request_set $fleetflash_file $upstream_http_x_fleetflash_file;
        auth_request_set $fleetflash_image $upstream_http_x_fleetflash_image;
        auth_request_set $fleetflash_campaign $upstream_http_x_fleetflash_campaign;
        auth_request_set $fleetflash_node $upstream_http_x_fleetflash_node;
        error_page 401 403 =404 @fleetflash_not_found;
        root {media_root};
        default_type application/octet-stream;
        types {{ }}
        add_header Cache-Control private;
        try_files /$fleetflash_file =404;
    }}
    location = {AUTHORIZE_PATH} {{
        internal;
        proxy_pass http://fleetflash_gateway;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
    }}
    location @fleetflash_not_found {{
        return 404 "not found\\n";
    }}
    location / {{
        return 404 "not found\\n";
    }}
}}
"""


def render_nginx_conf(*, site: str, prefix: str | os.PathLike[str], user: str | None = None,
                      worker_processes: int = 2) -> str:
    """A complete nginx.conf around `site`, with pid/temp/error files under `prefix`.

    Used by the test and the benchmark to run a private nginx; production
    deployments include the site block in their distribution's nginx.conf.
    """
    user_line = f"user {user};\n" if user else ""
    return f"""\
{user_line}worker_processes {worker_processes};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {prefix}/tmp_body;
    proxy_temp_path {prefix}/tmp_proxy;
    fastcgi_temp_path {prefix}/tmp_fastcgi;
    uwsgi_temp_path {prefix}/tmp_uwsgi;
    scgi_temp_path {prefix}/tmp_scgi;
{site}}}
"""


def ingest_access_log(path: Path, counters: TransferCounters, offset: int = 0) -> int:
    """Add bytes from a `fleetflash`-format nginx access log to `counters`.

    Reads from byte `offset`; returns the offset after the last complete line so
    the caller can resume (log rotation: pass 0 for the new file). Lines for
    refused requests ("-" image) and malformed lines are skipped.
    """
    with path.open("rb") as stream:
        stream.seek(offset)
        data = stream.read()
    consumed = data.rfind(b"\n") + 1
    for line in data[:consumed].decode("utf-8", "replace").splitlines():
        fields = line.split()
        if len(fields) != 6 or "-" in (fields[1], fields[2], fields[3]):
            continue
        if not fields[5].isdigit():
            continue
        counters.add(fields[1], fields[2], fields[3], int(fields[5]))
    return offset + consumed
