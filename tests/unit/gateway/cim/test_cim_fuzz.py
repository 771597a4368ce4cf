"""Fuzz the real listener with generated CIM-XML bodies over one keep-alive connection.

Property: every request gets an answer below 500, exactly one record (an alert row, or
one more on a refusal count) is written for it, and no image appears unless that
record says "accepted".
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.sax.saxutils import escape

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.service import Gateway
from gateway.store import Decision
from tests.unit.gateway.cim.cimxml import (
    export_headers,
    export_request,
    prop,
    prop_array,
    update_properties,
)
from tests.unit.gateway.cim.conftest import ALLOWED_PREFIX, basic
from tests.unit.gateway.cim.test_cim_listener import refusals

pytestmark = pytest.mark.filterwarnings("ignore::pywbem.ToleratedServerIssueWarning")

FUZZ = settings(max_examples=1200, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

PROFILE_NAMES = ["IndicationIdentifier", "IndicationTime", "AlertType", "OtherAlertType",
                 "PerceivedSeverity", "OwningEntity", "MessageID", "MessageArguments",
                 "Description", "AlertingManagedElement", "AlertingElementFormat",
                 "SystemName"]
CIM_TYPES = ["string", "uint16", "uint32", "sint8", "boolean", "datetime", "real64",
             "char16", "reference", "bogus"]
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
values = st.one_of(text, st.integers(-70000, 70000).map(str),
                   st.sampled_from(["FWUP0001", "FWUP0002", "FLEETFLASH", "TRUE",
                                    "20261125101500.000000+000", ALLOWED_PREFIX + "x.iso",
                                    "a" * 64, "file:///etc/passwd"]))


@st.composite
def properties(draw: st.DrawFn) -> list[str]:
    chosen = draw(st.lists(st.one_of(st.sampled_from(PROFILE_NAMES), st.from_regex(
        r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)), max_size=14))
    rendered = []
    for name in chosen:
        cim_type = draw(st.sampled_from(CIM_TYPES))
        if draw(st.booleans()):
            rendered.append(prop_array(name, draw(st.lists(values, max_size=6)), cim_type))
        else:
            rendered.append(prop(name, draw(values), cim_type))
    return rendered


structured = st.builds(
    lambda props, classname, cim, dtd, proto, method, msg_id: export_request(
        props, classname=classname, cim_version=cim, dtd_version=dtd, protocol_version=proto,
        method=method, msg_id=msg_id),
    properties(),
    st.sampled_from(["CIM_AlertIndication", "cim_alertindication", "CIM_InstCreation", "X"]),
    st.sampled_from(["2.0", "2.1", "3.0", "", "x"]),
    st.sampled_from(["2.0", "2.1", "2.4", "1.0", "9"]),
    st.sampled_from(["1.0", "1.4", "2.0", ""]),
    st.sampled_from(["ExportIndication", "ExportIndication", "Export", ""]),
    st.one_of(st.just("1"), text.map(escape)),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid alert with bytes inserted, deleted or replaced, or cut short."""
    body = bytearray(export_request(update_properties(
        uri=ALLOWED_PREFIX + "q.iso", identifier=draw(st.text("abcdef0123", min_size=1,
                                                              max_size=12)))))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if action == "insert":
            body[position:position] = chunk
        elif action == "delete":
            del body[position:position + len(chunk)]
        elif action == "replace":
            body[position:position + len(chunk)] = chunk
        else:
            del body[position:]
        if not body:
            body = bytearray(b"<")
    return bytes(body)


@pytest.fixture(scope="module")
def session(gateway: Gateway) -> Iterator[requests.Session]:
    with requests.Session() as shared:
        yield shared


def _post_and_check(gateway: Gateway, session: requests.Session, body: bytes) -> None:
    assert gateway.config.listener.http is not None
    url = f"http://127.0.0.1:{gateway.config.listener.http[1]}/"
    alerts_before = gateway.store.count_alerts()
    refused_before = sum(refusals(gateway).values())
    images_before = len(gateway.store.list_images())
    response = session.post(url, data=body, headers={**export_headers(),
                                                     "Authorization": basic()}, timeout=30)
    assert response.status_code < 500
    # The handler's last-resort branch means an exception escaped pywbem or our gate.
    assert response.headers.get("CIMErrorDetails") != "request could not be processed"
    # Exactly one record: an alert row, or one more count on a refusal row.
    recorded = (gateway.store.count_alerts() - alerts_before
                + sum(refusals(gateway).values()) - refused_before)
    assert recorded == 1
    if len(gateway.store.list_images()) != images_before:
        assert gateway.store.list_alerts(1)[0].decision == Decision.ACCEPTED


@FUZZ
@given(body=structured)
def test_fuzz_structured_cim_xml(gateway: Gateway, session: requests.Session,
                                 body: bytes) -> None:
    _post_and_check(gateway, session, body)


@FUZZ
@given(body=mutated())
def test_fuzz_mutated_alerts(gateway: Gateway, session: requests.Session, body: bytes) -> None:
    _post_and_check(gateway, session, body)


@settings(FUZZ, max_examples=400)
@given(body=st.one_of(st.binary(max_size=300), text.map(str.encode)))
def test_fuzz_arbitrary_bytes(gateway: Gateway, session: requests.Session, body: bytes) -> None:
    _post_and_check(gateway, session, body)
