"""BMCs registered through the API (one by one, and by POST /api/bmcs:import) are in
the store: after a restart of the gateway they are still nodes of their cluster, and
their password stays out of every answer."""

from __future__ import annotations

from typing import Any

import jsonschema
import requests

from gateway.config import load_config
from gateway.service import build_gateway
from tests.integration.api.conftest import LiveFactory, LiveGateway


def _call(url: str, token: str, method: str, path: str,
          body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(method, url + path, json=body, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})


def test_api_registrations_and_imports_survive_a_restart(live_gateway: LiveFactory) -> None:
    live: LiveGateway = live_gateway(nodes=4, configured=2)
    admin = live.tokens["admin"]
    third, fourth = live.emulated.inventory[2], live.emulated.inventory[3]
    first = live.emulated.inventory[0]
    created = _call(live.url, admin, "POST", "/api/bmcs", {
        "id": third["id"], "url": third["url"], "username": third["username"],
        "password": third["password"], "cluster": "lab", "group": "even"})
    assert created.status_code == 201, created.text
    # A config-file BMC cannot be re-registered through the API: the file is read-only.
    clash = _call(live.url, admin, "POST", "/api/bmcs", {
        "id": first["id"], "url": first["url"], "username": first["username"],
        "password": first["password"], "cluster": "lab", "group": "even"})
    assert clash.status_code == 409 and "config file" in clash.text, clash.text

    config = live.gateway.config
    secret = config.path.parent / "pw-fourth"
    secret.write_text(fourth["password"])
    csv = ("name,cluster,group,url,username,password_file\n"
           f"{fourth['id']},lab,odd,{fourth['url']},{fourth['username']},{secret}\n"
           f"bad,lab,nowhere,https://127.0.0.1:9,u,{secret}\n")
    body = {"format": "csv", "content": csv, "filename": "inv.csv"}
    refused = _call(live.url, admin, "POST", "/api/bmcs:import", body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["applied"] is False
    assert [p["where"] for p in refused.json()["problems"]] == ["inv.csv:3"]
    # The 422 is documented, and the answer is what the document says.
    document = _call(live.url, admin, "GET", "/api/openapi.json").json()
    answers = document["paths"]["/api/bmcs:import"]["post"]["responses"]
    jsonschema.validate(refused.json(), answers["422"]["content"]["application/json"]["schema"])
    dry = _call(live.url, admin, "POST", "/api/bmcs:import", body | {"dry_run": True})
    assert dry.status_code == 200 and dry.json()["added"] == [fourth["id"]]
    taken = _call(live.url, admin, "POST", "/api/bmcs:import", body | {"partial": True})
    assert taken.status_code == 200 and taken.json()["applied"] is True
    assert _call(live.url, live.tokens["operator"], "POST", "/api/bmcs:import",
                 body).status_code == 403
    garbage = _call(live.url, admin, "POST", "/api/bmcs:import",
                    {"format": "netbox", "content": "{"})
    assert garbage.status_code == 400 and "not valid JSON" in garbage.text

    live.gateway.stop()
    again = build_gateway(load_config(config.path), worker_poll_interval=0.2)
    again.start()
    try:
        assert again.api is not None
        nodes = _call(again.api.url, admin, "GET", "/api/bmcs").json()
        ids = {item["id"] for item in nodes["items"]}
        assert {third["id"], fourth["id"], first["id"]} <= ids and "bad" not in ids
        assert third["password"] not in repr(nodes)
        cluster = _call(again.api.url, admin, "GET", "/api/clusters/lab").json()
        groups = {g["name"]: g["nodes"] for g in cluster["groups"]}
        assert third["id"] in groups["even"] and fourth["id"] in groups["odd"]
    finally:
        again.stop()
