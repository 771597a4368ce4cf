"""SimpleUpdate from an https ImageURI: refused when the server's certificate is not
trusted, applied when the cluster is given the media server's CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, send_from_directory

from emulator.tls import SelfSignedTls, make_self_signed
from tests.integration.emulator.conftest import http, versions, wait_until
from tests.support.wsgi import serving


@pytest.fixture
def https_bundle(bundle_factory: Any) -> Iterator[tuple[str, SelfSignedTls]]:
    path: Path = bundle_factory()
    tls = make_self_signed("media-server")
    app = Flask("https-media")

    @app.get("/<name>")
    def image(name: str) -> Any:
        return send_from_directory(path.parent, name, conditional=True)

    with serving(app, tls.context) as base_url:
        yield f"{base_url}/{path.name}", tls
    tls.cleanup()


def _update(node: dict[str, str], url: str) -> dict[str, Any]:
    session = http(node)
    response = session.post(
        node["url"] + "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
        json={"ImageURI": url, "TransferProtocol": "HTTPS",
              "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/NIC"]})
    assert response.status_code == 202
    monitor = response.headers["Location"]
    result: dict[str, Any] = wait_until(
        lambda: (r := session.get(node["url"] + monitor)).status_code == 200 and r.json())
    return result


def test_untrusted_https_image_server_fails_the_transfer(
    cluster: Any, node: dict[str, str], https_bundle: tuple[str, SelfSignedTls]
) -> None:
    url, _tls = https_bundle
    task = _update(node, url)
    assert task["TaskState"] == "Exception"
    assert any(m["MessageId"].endswith("TransferFailed") for m in task["Messages"])


def test_https_image_with_the_media_servers_ca(
    cluster_factory: Any, https_bundle: tuple[str, SelfSignedTls]
) -> None:
    url, tls = https_bundle
    cluster = cluster_factory(image_tls_verify=str(tls.cert_path))
    node = cluster.inventory[0]
    assert _update(node, url)["TaskState"] == "Completed"
    assert versions(node)["NIC"] == "7.1"
