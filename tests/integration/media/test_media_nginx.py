"""nginx (Debian package) in front of the media directory, handing out the same URLs.

nginx serves the bytes; every request is authorised by the gateway through
auth_request, so forged, expired, unknown and withdrawn URLs are 404 exactly as
with the built-in server. Skipped when /usr/sbin/nginx is absent (the test
installs nothing; scripts/bootstrap.sh lists nginx in APT_PACKAGES).
"""

from __future__ import annotations

import email
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from gateway.media import (
    CapabilityGrant,
    CapabilitySigner,
    MediaServer,
    TransferCounters,
    VerifiedDirectoryCatalog,
)
from gateway.media.nginx import (
    authorize_for_nginx,
    ingest_access_log,
    render_nginx_conf,
    render_nginx_site,
)
from tests.integration.media.conftest import RunningMedia, write_image
from tests.support.ports import restartable_port
from tests.support.waiting import accepts_connections, wait_until

NGINX = Path("/usr/sbin/nginx")
pytestmark = pytest.mark.skipif(not NGINX.exists(),
                                reason="nginx is not installed (Debian package nginx)")


@dataclass
class Fronted:
    media: RunningMedia
    nginx_port: int
    access_log: Path

    def url(self, **kwargs: object) -> str:
        path = self.media.path(**kwargs)  # type: ignore[arg-type]
        return f"http://127.0.0.1:{self.nginx_port}{path}"


def _listening(port: int, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"nginx exited: {process.stderr.read()!r}")  # type: ignore[union-attr]
    return accepts_connections("127.0.0.1", port)


@pytest.fixture()
def fronted(tmp_path: Path) -> Iterator[Fronted]:
    images = tmp_path / "images"
    images.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = write_image(images, data)
    signer = CapabilitySigner([os.urandom(32)])
    catalog = VerifiedDirectoryCatalog(images)
    server = MediaServer(signer, catalog, http=("127.0.0.1", 0), nginx_root=images)
    server.start()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = restartable_port()
    access_log = prefix / "access.log"
    site = render_nginx_site(listen=f"127.0.0.1:{port}", media_root=images,
                             gateway=f"127.0.0.1:{server.bound_ports()['http']}",
                             access_log=access_log)
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_conf(site=site, prefix=prefix, worker_processes=1,
                                      user="root" if os.geteuid() == 0 else None))
    process = subprocess.Popen([str(NGINX), "-p", str(prefix), "-e", str(prefix / "error.log"),
                                "-c", str(conf), "-g", "daemon off;"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _listening(port, process), 30, describe="nginx did not listen")
        yield Fronted(RunningMedia(server, signer, catalog, images, data, digest), port,
                      access_log)
    finally:
        process.terminate()
        process.wait(timeout=30)
        server.stop()


def test_media_nginx_serves_the_same_urls_with_ranges(fronted: Fronted) -> None:
    data = fronted.media.data
    url = fronted.url()
    whole = requests.get(url, timeout=30)
    assert (whole.status_code, whole.content) == (200, data)
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=30)
    assert (part.status_code, part.content) == (206, data[100:200])
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    multi = requests.get(url, headers={"Range": "bytes=0-9,-5"}, timeout=30)
    assert multi.status_code == 206
    message = email.message_from_bytes(
        f"Content-Type: {multi.headers['Content-Type']}\r\n\r\n".encode() + multi.content)
    assert [p.get_payload(decode=True) for p in message.get_payload()] == [  # type: ignore[union-attr]
        data[:10], data[-5:]]
    assert requests.get(url, headers={"Range": f"bytes={len(data)}-"},
                        timeout=30).status_code == 416
    head = requests.head(url, timeout=30)
    assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(data)))


def test_media_nginx_refuses_what_the_gateway_refuses(fronted: Fronted) -> None:
    good = fronted.url()
    token = good.split("/")[4]
    forged = good.replace(token, token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB"))
    for url in (forged, fronted.url(ttl_s=-5), fronted.url(sha256="1" * 64),
                f"http://127.0.0.1:{fronted.nginx_port}/media/x/y.iso",
                f"http://127.0.0.1:{fronted.nginx_port}/images/{fronted.media.sha256}.iso",
                f"http://127.0.0.1:{fronted.nginx_port}/_fleetflash/authorize"):
        assert requests.get(url, timeout=30).status_code == 404, url
    assert requests.get(good, timeout=30).status_code == 200
    fronted.media.catalog.withdraw(fronted.media.sha256)
    assert requests.get(good, timeout=30).status_code == 404


def test_media_nginx_never_serves_an_unverified_file(fronted: Fronted) -> None:
    bogus = "2" * 64
    (fronted.media.image_dir / f"{bogus}.iso").write_bytes(b"not what the digest says")
    assert requests.get(fronted.url(sha256=bogus), timeout=30).status_code == 404


def test_media_nginx_bytes_are_counted_per_node_from_its_access_log(fronted: Fronted) -> None:
    requests.get(fronted.url(node="bmc-1"), headers={"Range": "bytes=0-4095"}, timeout=30)
    requests.get(fronted.url(node="bmc-2"), timeout=30)
    requests.get(fronted.url(node="bmc-3", ttl_s=-1), timeout=30)  # refused: not counted
    counters = TransferCounters()
    offset = 0

    def both_logged() -> bool:  # nginx writes the line after the response: wait for it
        nonlocal offset
        offset = ingest_access_log(fronted.access_log, counters, offset)
        return len(counters.snapshot().per_node) >= 2

    wait_until(both_logged, 30, describe="nginx never logged the transfers")
    snapshot = counters.snapshot()
    assert snapshot.per_node == {("camp-1", "bmc-1"): 4096,
                                 ("camp-1", "bmc-2"): len(fronted.media.data)}
    assert snapshot.per_image == {fronted.media.sha256: 4096 + len(fronted.media.data)}


def test_media_authorize_endpoint_answers_loopback_only(tmp_path: Path) -> None:
    digest = write_image(tmp_path, b"x" * 100)
    signer = CapabilitySigner([b"k" * 32])
    catalog = VerifiedDirectoryCatalog(tmp_path)
    token = signer.mint(CapabilityGrant(digest, "c", "n", int(time.time()) + 60))
    uri = f"/media/{token}/a.iso"
    assert authorize_for_nginx(signer, catalog, str(tmp_path), uri, "10.1.2.3")[0] == 403
    status, fields = authorize_for_nginx(signer, catalog, str(tmp_path), uri, "127.0.0.1")
    assert status == 204 and ("X-Fleetflash-File", f"{digest}.iso") in fields
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    assert authorize_for_nginx(signer, catalog, str(elsewhere), uri, "127.0.0.1")[0] == 403
