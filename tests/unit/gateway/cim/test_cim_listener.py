"""The listener against DSP0200 edge cases: each answered correctly, recorded, no state change.

Rows are (description, how to send, expected HTTP status, CIMError header, CIM-XML
ERROR code or None, decision recorded).
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests

from gateway.service import Gateway
from gateway.store import Decision
from gateway.store.refusals import list_refusals
from tests.unit.gateway.cim.cimxml import (
    SHA,
    export_headers,
    export_request,
    prop,
    update_properties,
)
from tests.unit.gateway.cim.conftest import ALLOWED_PREFIX, basic

GOOD_URI = ALLOWED_PREFIX + "q4.iso"


def good_body(**kwargs: object) -> bytes:
    return export_request(update_properties(uri=GOOD_URI, **kwargs))  # type: ignore[arg-type]


@dataclass
class Case:
    description: str
    body: bytes = field(default_factory=good_body)
    headers: dict[str, str | None] = field(default_factory=dict)
    method: str = "POST"
    status: int = 200
    cim_error: str | None = None
    error_code: int | None = None
    decision: Decision = Decision.REJECTED
    new_image: bool = False


def _with_args(args: list[str]) -> bytes:
    return export_request(update_properties(uri=GOOD_URI, arguments=args))


CASES = [
    Case("CIMOM-style FWUP0001 (any order and case, qualifiers, VALUE.ARRAY)",
         body=good_body(identifier="ok-1"), decision=Decision.ACCEPTED, new_image=True),
    Case("CIMVERSION and DTDVERSION 2.1",
         body=export_request(update_properties(uri=GOOD_URI, identifier="ok-2",
                                               sha="e" * 64),
                             cim_version="2.1", dtd_version="2.1"),
         decision=Decision.ACCEPTED, new_image=True),
    Case("replayed IndicationIdentifier", body=good_body(identifier="ok-1"),
         decision=Decision.DUPLICATE),
    Case("not well-formed XML", body=b"<CIM><MESSAGE>", status=400,
         cim_error="request-not-well-formed"),
    Case("not XML at all", body=b"\x00\xff garbage", status=400,
         cim_error="request-not-well-formed"),
    Case("valid XML but not CIM", body=b"<?xml version='1.0'?><html/>", status=400,
         cim_error="request-not-well-formed"),
    Case("missing CIMExport header", headers={"CIMExport": None}, status=400,
         cim_error="unsupported-operation"),
    Case("CIMExport: MethodCall", headers={"CIMExport": "MethodCall"}, status=400,
         cim_error="unsupported-operation"),
    Case("missing CIMExportMethod header", headers={"CIMExportMethod": None}, status=400,
         cim_error="header-mismatch"),
    Case("CIMExportMethod disagrees with the body", headers={"CIMExportMethod": "ExportFoo"},
         status=400, cim_error="header-mismatch"),
    Case("unsupported DTD version", body=export_request(
        update_properties(uri=GOOD_URI), dtd_version="3.0"), status=400,
        cim_error="unsupported-dtd-version"),
    Case("unsupported protocol version in MESSAGE", body=export_request(
        update_properties(uri=GOOD_URI), protocol_version="2.0"), status=400,
        cim_error="unsupported-protocol-version"),
    Case("unsupported CIMProtocolVersion header", headers={"CIMProtocolVersion": "2.0"},
         status=501, cim_error="unsupported-protocol-version"),
    Case("wrong Content-Type", headers={"Content-Type": "text/plain"}, status=406,
         cim_error="header-mismatch"),
    Case("oversized body", body=good_body() + b" " * 20000, status=413),
    Case("no credentials", headers={"Authorization": None}, status=401),
    Case("wrong password", headers={"Authorization": basic(password="guess")}, status=401),
    Case("unknown user", headers={"Authorization": basic(user="mallory")}, status=401),
    Case("GET instead of POST", method="GET", status=405),
    Case("unknown export method", body=export_request(update_properties(uri=GOOD_URI),
                                                      method="ExportFoo"),
         headers={"CIMExportMethod": "ExportFoo"}, error_code=7),
    Case("missing OwningEntity", body=export_request(
        [p for p in update_properties(uri=GOOD_URI) if "OwningEntity" not in p]),
        error_code=4),
    Case("mistyped AlertType", body=export_request(
        [*[p for p in update_properties(uri=GOOD_URI) if '"AlertType"' not in p],
         prop("AlertType", "1", "string")]), error_code=4),
    Case("bad SHA-256 format", body=_with_args([GOOD_URI, "ABC", "b", "r"]), error_code=4),
    Case("file:// ImageURI", body=_with_args(["file:///etc/passwd", SHA, "b", "r"]),
         error_code=4),
    Case("ftp:// ImageURI", body=_with_args(["ftp://127.0.0.1:9/fw/q4.iso", SHA, "b", "r"]),
         error_code=4),
    Case("host that only looks allowed", body=_with_args(
        ["http://127.0.0.1.evil.example:9/fw/q4.iso", SHA, "b", "r"]), error_code=2),
    Case("userinfo trick", body=_with_args(["http://127.0.0.1:9@evil.example/fw/q4.iso", SHA,
                                            "b", "r"]), error_code=4),
    Case("other port", body=_with_args(["http://127.0.0.1:99/fw/q4.iso", SHA, "b", "r"]),
         error_code=2),
    Case("OwningEntity not allowed for the source",
         body=good_body(owning_entity="EVILCORP"), error_code=2),
    Case("another indication class", body=export_request(update_properties(uri=GOOD_URI),
                                                         classname="CIM_InstCreation"),
         decision=Decision.IGNORED),
    Case("another MessageID", body=good_body(message_id="PLAT0001"),
         decision=Decision.IGNORED),
]


def send(gateway: Gateway, case: Case) -> requests.Response:
    assert gateway.config.listener.http is not None
    url = f"http://127.0.0.1:{gateway.config.listener.http[1]}/"
    headers: dict[str, str | None] = {**export_headers(), "Authorization": basic()}
    headers.update(case.headers)
    clean = {k: v for k, v in headers.items() if v is not None}
    return requests.request(case.method, url, data=case.body, headers=clean, timeout=30)


def _snapshot(gateway: Gateway) -> tuple[int, list[tuple[str, str]]]:
    images = [(i.sha256, str(i.state)) for i in gateway.store.list_images()]
    return gateway.store.count_alerts(), images


def refusals(gateway: Gateway) -> dict[str, int]:
    """{reason: count} of the listener's refusals from 127.0.0.1 (written out first)."""
    gateway.listener.refusals.flush()
    items, _ = list_refusals(gateway.store.engine, limit=500)
    counts: dict[str, int] = {}
    for item in items:
        if item.channel == "cim" and item.client_address == "127.0.0.1":
            assert item.reason not in counts, "more than one row per address, reason, bucket"
            counts[item.reason] = item.count
    return counts


REASONS = {401: "unauthenticated", 403: "forbidden", 405: "method-not-allowed",
           413: "body-too-large"}


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_each_request_is_answered_recorded_and_changes_only_what_it_should(
        gateway: Gateway, case: Case) -> None:
    alerts_before, images_before = _snapshot(gateway)
    refusals_before = refusals(gateway)
    response = send(gateway, case)

    assert response.status_code == case.status
    assert response.headers.get("CIMError") == case.cim_error
    if case.status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    if case.status == 200:
        assert response.headers["CIMExport"] == "MethodResponse"
        match = re.search(rb'<ERROR CODE="(\d+)"', response.content)
        assert (int(match.group(1)) if match else None) == case.error_code
    alerts_after, images_after = _snapshot(gateway)
    if case.status == 200:  # an export read after authentication: one alert record
        assert alerts_after == alerts_before + 1
        recorded = gateway.store.list_alerts(1)[0]
        assert recorded.decision == case.decision
        assert recorded.reason
    else:  # refused before an alert was read: counted, no alert record
        assert alerts_after == alerts_before
        reason = REASONS.get(case.status, "malformed-request")
        after = refusals(gateway)
        assert after[reason] == refusals_before.get(reason, 0) + 1
        assert sum(after.values()) == sum(refusals_before.values()) + 1
    if case.new_image:
        assert len(images_after) == len(images_before) + 1
    else:
        assert images_after == images_before


def test_refusals_never_echo_the_password(gateway: Gateway) -> None:
    send(gateway, Case("wrong password", headers={"Authorization": basic(password="hunter2")}))
    assert all("hunter2" not in a.reason for a in gateway.store.list_alerts(50))
    gateway.listener.refusals.flush()
    items, _ = list_refusals(gateway.store.engine, limit=500)
    assert items and all("hunter2" not in i.last_sample for i in items)


def _raw(gateway: Gateway, build: Callable[[http.client.HTTPConnection], None]) -> int:
    assert gateway.config.listener.http is not None
    connection = http.client.HTTPConnection("127.0.0.1", gateway.config.listener.http[1],
                                            timeout=30)
    try:
        build(connection)
        return connection.getresponse().status
    finally:
        connection.close()


def test_missing_or_bad_content_length_is_refused(gateway: Gateway) -> None:
    def headers_only(extra: dict[str, str]) -> Callable[[http.client.HTTPConnection], None]:
        # Headers only: the listener answers before any body byte, and a body still in
        # flight when it closes the connection would race with the answer (RST).
        def build(connection: http.client.HTTPConnection) -> None:
            connection.putrequest("POST", "/")
            for name, value in {**export_headers(), "Authorization": basic(), **extra}.items():
                connection.putheader(name, value)
            connection.endheaders()
        return build

    before = gateway.store.count_alerts()
    malformed = refusals(gateway).get("malformed-request", 0)
    assert _raw(gateway, headers_only({"Transfer-Encoding": "chunked"})) == 411
    assert _raw(gateway, headers_only({"Content-Length": "12abc"})) == 400
    assert gateway.store.count_alerts() == before
    assert refusals(gateway)["malformed-request"] == malformed + 2


def test_keep_alive_connection_survives_refusals(gateway: Gateway) -> None:
    with requests.Session() as session:
        assert gateway.config.listener.http is not None
        url = f"http://127.0.0.1:{gateway.config.listener.http[1]}/"
        headers = {**export_headers(), "Authorization": basic()}
        for body in (b"<bad", good_body(identifier="ka-1"), b"<bad", good_body(identifier="ka-1")):
            response = session.post(url, data=body, headers=headers, timeout=30)
            assert response.status_code in (200, 400)
        assert gateway.store.list_alerts(1)[0].decision == Decision.DUPLICATE


def test_connection_flood_is_capped_and_recovers(gateway: Gateway) -> None:
    import socket

    assert gateway.config.listener.http is not None
    port = gateway.config.listener.http[1]
    limit = gateway.listener.policy.max_connections_per_client
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(limit)]
    try:
        extra = socket.create_connection(("127.0.0.1", port))
        extra.settimeout(10)
        assert extra.recv(1) == b""  # closed by the listener without an answer
        extra.close()
    finally:
        for connection in idle:
            connection.close()
    # Slots free up as the idle connections close; the listener keeps serving.
    from tests.support.waiting import wait_until

    wait_until(lambda: send(gateway, Case("after flood", body=b"<x")).status_code == 400)
