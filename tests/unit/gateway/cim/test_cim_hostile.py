"""The listener against hostile clients over raw loopback sockets: slow heads, a
billion-laughs body with valid credentials, a non-ASCII Content-Length."""

from __future__ import annotations

import logging
import socket

import pytest
import requests

from gateway.service import Gateway
from tests.integration.intake.conftest import wait_for
from tests.support.slow_clients import read_all, slow_heads
from tests.unit.gateway.cim.cimxml import export_headers, export_request, update_properties
from tests.unit.gateway.cim.conftest import ALLOWED_PREFIX, basic
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
        assert wait_for(lambda: gateway.listener.front_door_stats().connections >= 500)
        response = requests.post(_url(gateway), data=body, timeout=30,
                                 headers={**export_headers(), "Authorization": basic()})
        assert response.status_code == 200
        assert b"<ERROR" not in response.content
    # Every slow connection is released (the good client may keep its keep-alive one).
    assert wait_for(lambda: gateway.listener.front_door_stats().connections <= 1)


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
