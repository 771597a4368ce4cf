"""/api/alerts: the alert log with trust decisions, and the REST trigger of FWUP0001."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.gateway.api.conftest import BACKENDS, IMAGE_PREFIX, ApiHarness

# The API end to end on both backends: PostgreSQL is a first-class store.
pytestmark = pytest.mark.parametrize("api", BACKENDS, indirect=True)

SHA = "ab" * 32


def _raise(api: ApiHarness, **changes: Any) -> Any:
    body = {"source": "acme", "image_uri": IMAGE_PREFIX + "q4.iso", "sha256": SHA,
            "bundle_id": "acme-q4", "release": "2026.4"} | changes
    return api.client.post("/api/alerts", json=body, headers=api.headers("operator"))


def test_raised_alert_is_accepted_and_listed_with_its_decision(api: ApiHarness) -> None:
    response = _raise(api)
    assert response.status_code == 201
    assert response.json["decision"] == "accepted"
    listed = api.client.get("/api/alerts", headers=api.headers("viewer")).json
    assert listed["total"] == 1
    alert = listed["items"][0]
    assert alert["IndicationIdentifier"] == f"rest:{SHA}"
    assert alert["source"] == "acme" and alert["decision"] == "accepted"
    assert alert["reason"] == "new image queued for acquisition"
    assert alert["channel"] == "rest" and alert["MessageID"] == "FWUP0001"
    images = api.client.get("/api/images", headers=api.headers("viewer")).json
    assert [i["sha256"] for i in images["items"]] == [SHA]
    assert images["items"][0]["state"] == "pending"


def test_same_image_twice_is_a_duplicate(api: ApiHarness) -> None:
    _raise(api)
    again = _raise(api)
    assert again.status_code == 201 and again.json["decision"] == "duplicate"


def test_uri_outside_the_source_prefixes_is_refused_and_recorded(api: ApiHarness) -> None:
    response = _raise(api, image_uri="http://evil.example/fw/q4.iso")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "untrusted_alert"
    logged = api.client.get("/api/alerts?decision=rejected", headers=api.headers("viewer")).json
    assert logged["total"] == 1 and "ImageURI refused" in logged["items"][0]["reason"]
    assert api.client.get("/api/images", headers=api.headers("viewer")).json["total"] == 0


def test_unknown_source_names_the_field(api: ApiHarness) -> None:
    response = _raise(api, source="nobody")
    assert response.status_code == 400
    assert response.json["error"]["field"] == "source"


def test_withdrawal_is_recorded_and_withdrawing_an_unknown_image_conflicts(
        api: ApiHarness) -> None:
    _raise(api)
    body = {"source": "acme", "sha256": SHA, "bundle_id": "acme-q4"}
    withdrawn = api.client.post("/api/alerts/withdrawals", headers=api.headers("operator"),
                                json=body)
    assert withdrawn.status_code == 201 and withdrawn.json["decision"] == "withdrawn"
    image = api.client.get(f"/api/images/{SHA}", headers=api.headers("viewer")).json
    assert image["state"] == "withdrawn"
    unknown = api.client.post("/api/alerts/withdrawals", headers=api.headers("operator"),
                              json=body | {"sha256": "cd" * 32})
    assert unknown.status_code == 409
    assert "not known" in unknown.json["error"]["message"]


def test_bad_values_name_the_field(api: ApiHarness) -> None:
    cases = [({"sha256": "xyz"}, "sha256"), ({"release": ""}, "release"),
             ({"image_uri": "ftp://x/y"}, "image_uri"), ({"bundle_id": 7}, "bundle_id"),
             ({"extra": 1}, "extra")]
    for change, field in cases:
        response = _raise(api, **change)
        assert response.status_code == 400, change
        assert response.json["error"]["field"] == field, change
    assert api.client.get("/api/alerts", headers=api.headers("viewer")).json["total"] == 0


def test_pagination_walks_every_alert_once(api: ApiHarness) -> None:
    for i in range(7):
        _raise(api, sha256=f"{i:02x}" * 32)
    seen: list[int] = []
    for offset in range(0, 7, 3):
        page = api.client.get(f"/api/alerts?limit=3&offset={offset}",
                              headers=api.headers("viewer")).json
        assert page["total"] == 7 and page["limit"] == 3
        seen += [a["id"] for a in page["items"]]
    assert sorted(seen, reverse=True) == seen and len(set(seen)) == 7


def test_each_raise_is_in_the_audit_log_with_who(api: ApiHarness) -> None:
    _raise(api)
    _raise(api, sha256="nope")
    events = api.client.get("/api/audit", headers=api.headers("operator")).json["items"]
    assert [(e["actor"], e["action"], e["outcome"]) for e in events] == [
        ("operator-token", "alert.raise", "refused"), ("operator-token", "alert.raise", "ok")]
    assert events[0]["detail"].startswith("400")
