"""Any JSON the API cannot take is a 400 with the stable error body, never a 500."""

from __future__ import annotations

import pytest

from tests.unit.gateway.api.conftest import ApiHarness

BODIES = {
    # The body limit is 64 KiB: 60,000 levels fit only unterminated.
    "60,000-deep arrays": b"[" * 60_000,
    "30,000-deep well-formed arrays": b"[" * 30_000 + b"]" * 30_000,
    "10,000-deep objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "5,000-digit integer": b'{"source": ' + b"9" * 5000 + b"}",
    "5,000-digit negative integer in an array": b'{"x": [-' + b"1" * 5000 + b"]}",
    "NaN": b'{"source": NaN}',
    "Infinity": b'{"source": -Infinity}',
    "truncated": b'{"source": "a',
    "not UTF-8": b'{"source": "\xff\xfe"}',
    "lone surrogate escape is fine JSON but not a name": b'{"source": "\\ud800"}',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_unusable_json_is_400_with_the_stable_error_body(api: ApiHarness, body: bytes) -> None:
    response = api.client.post("/api/alerts", data=body, content_type="application/json",
                               headers=api.headers("operator"))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["status"] == 400
    assert error["code"] in ("malformed_json", "invalid_value", "unknown_field",
                             "missing_field")
    assert error["message"]
    assert api.context.store.count_alerts() == 0


def test_the_messages_name_the_problem(api: ApiHarness) -> None:
    def message(body: bytes) -> str:
        response = api.client.post("/api/alerts", data=body, content_type="application/json",
                                   headers=api.headers("operator"))
        return str(response.get_json()["error"]["message"])

    assert "nested too deeply" in message(BODIES["60,000-deep arrays"])
    assert "number too large" in message(BODIES["5,000-digit integer"])
