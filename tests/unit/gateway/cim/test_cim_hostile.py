"""The listener against hostile clients over raw loopback sockets: slow heads, a
billion-laughs body with valid credentials, a non-ASCII Content-Length."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
import requests

from gateway.service import Gateway
from gateway.store.refusals import list_refusals
from tests.support.slow_clients import read_all, slow_heads
from tests.support.waiting import wait_until
from tests.unit.gateway.cim.cimxml import export_headers, export_request, update_properties
from tests.unit.gateway.cim.conftest import ALLOWED_PREFIX, basic
from tests.unit.gateway.cim.test_cim_listener import good_body
from tests.unit.gateway.cim.test_cim_pywbem_contract import BILLION_LAUGHS


def _url(gateway: Gateway) -> str:
    assert gateway.config.listener.http is not None
    return f"http://127.0.0.1:{gateway.config.listener.http[1]}/"


def _port(gateway: Gateway) -> int:
    assert gateway.config.listener.http is not None
    return gateway.config.listener.http[1]


def test_an_alert_is_acknowledged_while_500_slow_heads_are_held(gateway: Gateway) -> None:
    body = export_request(update_properties(uri=ALLOWED_PREFIX + "slow.iso",
                                            identifier="slow-1", sha="d" * 64))
    with slow_heads(_port(gateway), 500, per_address=10):
        wait_until(lambda: gateway.listener.front_door_stats().connections >= 500)
        response = requests.post(_url(gateway), data=body, timeout=30,
                                 headers={**export_headers(), "Authorization": basic()})
        assert response.status_code == 200
        assert b"<ERROR" not in response.content
    # Every slow connection is released (the good client may keep its keep-alive one).
    wait_until(lambda: gateway.listener.front_door_stats().connections <= 1)


def test_billion_laughs_with_valid_credentials_is_400_without_expansion(
        gateway: Gateway) -> None:
    response = requests.post(_url(gateway), data=BILLION_LAUGHS, timeout=30,
                             headers={**export_headers(), "Authorization": basic()})
    assert response.status_code == 400
    assert response.headers["CIMError"] == "request-not-well-formed"
    assert "not accepted" in response.headers["CIMErrorDetails"]


@pytest.mark.parametrize("length", ["\u0663\u0660", "\uff11\uff10", "1\u00b2"])
def test_non_ascii_digits_in_content_length_are_400_without_a_traceback(
        gateway: Gateway, length: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.create_connection(("127.0.0.1", _port(gateway)), timeout=30) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                     + length.encode("utf-8") + b"\r\n\r\n" + b"<" * 10)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nCIMExport: MethodResponse\r\n" in answer
    assert not [r for r in caplog.records if r.exc_info is not None]


def _flood(port: int, source: str, requests_count: int, body: bytes) -> int:
    """`requests_count` unauthenticated exports on one keep-alive connection; 401s seen."""
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
            b"CIMExport: MethodRequest\r\nCIMExportMethod: ExportIndication\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    seen = 0
    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(30)
        sock.connect(("127.0.0.1", port))
        sock.sendall((head + body) * requests_count)  # pipelined
        data = b""
        while seen < requests_count:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            seen = data.count(b"HTTP/1.1 401 ")
    return seen


def test_an_unauthenticated_flood_costs_one_row_per_address_and_blocks_no_one(
        gateway: Gateway) -> None:
    alerts_before = gateway.store.count_alerts()
    results: list[int] = []
    flooders = [threading.Thread(target=lambda s=s: results.append(
        _flood(_port(gateway), s, 500, b"<x/>"))) for s in
        ("127.0.9.1", "127.0.9.2", "127.0.9.3", "127.0.9.4")]
    for thread in flooders:
        thread.start()
    response = requests.post(_url(gateway), data=good_body(identifier="flood-ok"), timeout=30,
                             headers={**export_headers(), "Authorization": basic()})
    for thread in flooders:
        thread.join(timeout=120)
    assert response.status_code == 200 and b"<ERROR" not in response.content
    assert results == [500] * 4
    assert gateway.store.count_alerts() == alerts_before + 1  # only the good alert
    gateway.listener.refusals.flush()
    rows = [r for r in list_refusals(gateway.store.engine, limit=500)[0]
            if r.client_address.startswith("127.0.9.")]
    assert sorted((r.client_address, r.reason, r.count) for r in rows) == [
        (f"127.0.9.{i}", "unauthenticated", 500) for i in range(1, 5)]


def test_password_guessing_backs_off_per_address_and_never_locks_out_the_publisher(
        gateway: Gateway) -> None:
    import math
    import time

    authenticator = gateway.listener.authenticator
    settings = authenticator.backoff.settings
    checks_before = authenticator.password_checks
    started = time.monotonic()
    statuses = []
    with socket.socket() as sock:
        sock.bind(("127.0.8.1", 0))
        sock.settimeout(30)
        sock.connect(("127.0.0.1", _port(gateway)))
        head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                b"Authorization: " + basic(password="guess").encode() + b"\r\n\r\n<x/>")
        for _ in range(200):
            sock.sendall(head)
            answer = sock.recv(65536)
            statuses.append(int(answer.split(b" ", 2)[1]))
            if statuses[-1] == 429:
                assert b"\r\nRetry-After: " in answer
    elapsed = time.monotonic() - started
    assert statuses[:settings.failures] == [401] * settings.failures
    assert statuses.count(429) > 150
    # One PBKDF2 per window at most: the windows 1, 2, 4 ... s fit log2(elapsed) times.
    windows = math.ceil(math.log2(elapsed / settings.base_delay_s + 1)) + 1
    assert authenticator.password_checks - checks_before <= settings.failures + windows
    good = requests.post(_url(gateway), data=good_body(identifier="after-guessing"),
                         headers={**export_headers(), "Authorization": basic()}, timeout=30)
    assert good.status_code == 200 and b"<ERROR" not in good.content
