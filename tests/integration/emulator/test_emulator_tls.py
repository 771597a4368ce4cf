"""--tls: HTTPS with a certificate made at start-up, verifiable by clients."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import sushy


def test_tls_cluster_serves_https_with_its_own_certificate(cluster_factory: Any) -> None:
    cluster = cluster_factory(tls=True, nodes=2)
    node = cluster.inventory[0]
    assert node["url"].startswith("https://127.0.0.1:")
    assert cluster.tls_cert_path is not None
    root = requests.get(node["url"] + "/redfish/v1", verify=str(cluster.tls_cert_path))
    assert root.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(node["url"] + "/redfish/v1")  # not trusted by default: self-signed
    with pytest.raises(requests.ConnectionError):
        requests.get(node["url"].replace("https://", "http://") + "/redfish/v1", timeout=5)
    client = sushy.Sushy(node["url"] + "/redfish/v1", verify=str(cluster.tls_cert_path),
                         auth=sushy.auth.SessionAuth(username=node["username"],
                                                     password=node["password"]))
    system = client.get_system("/redfish/v1/Systems/1")
    assert system.model == node["model"]
