"""Translation of sushy/requests exceptions into our errors, transient or not."""

from __future__ import annotations

import json

import pytest
import requests
from sushy import exceptions as sushy_exc

from gateway.redfish import (
    AuthenticationError,
    BmcBusyError,
    BmcUnreachableError,
    NotSupportedError,
    RedfishError,
    RequestRejectedError,
    ResourceMissingError,
    TlsError,
)
from gateway.redfish.errors import QUOTE_CHARS, quoted, translate, translated


def http_error(status: int, message: str = "went wrong") -> sushy_exc.HTTPError:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({"error": {"code": "Base.1.0.GeneralError",
                                              "message": message}}).encode()
    try:
        sushy_exc.raise_for_response("POST", "https://bmc/redfish/v1/x", response)
    except sushy_exc.HTTPError as exc:
        return exc
    raise AssertionError(f"no error raised for {status}")


@pytest.mark.parametrize(
    ("description", "exc", "kind", "transient"),
    [
        ("401", http_error(401), AuthenticationError, False),
        ("403", http_error(403), AuthenticationError, False),
        ("404", http_error(404), ResourceMissingError, False),
        ("400", http_error(400), RequestRejectedError, False),
        ("409 resource in use", http_error(409), BmcBusyError, True),
        ("415", http_error(415), RequestRejectedError, False),
        ("429", http_error(429), BmcBusyError, True),
        ("500", http_error(500), BmcBusyError, True),
        ("503", http_error(503), BmcBusyError, True),
        ("refused", sushy_exc.ConnectionError(url="https://bmc", error="Connection refused"),
         BmcUnreachableError, True),
        ("timeout", requests.exceptions.ReadTimeout("read timed out"), BmcUnreachableError,
         True),
        ("certificate", sushy_exc.ConnectionError(
            url="https://bmc", error="SSLError(Fingerprints did not match)"), TlsError, False),
        ("missing action", sushy_exc.MissingActionError(action="#X.Y", resource="/r"),
         NotSupportedError, False),
        ("bad payload", KeyError("Members"), RequestRejectedError, False),
    ],
)
def test_translation(description: str, exc: Exception, kind: type[RedfishError],
                     transient: bool) -> None:
    ours = translate(exc, "doing something")
    assert isinstance(ours, kind) and ours.transient is transient
    assert str(ours).startswith("doing something")


def test_translated_chains_the_cause_and_keeps_the_status() -> None:
    with pytest.raises(BmcBusyError) as caught, translated("reading task /t/1"):
        raise http_error(503, "try later")
    assert caught.value.status == 503 and "try later" in str(caught.value)
    assert isinstance(caught.value.__cause__, sushy_exc.HTTPError)


def test_auth_errors_do_not_echo_the_bmc_body() -> None:
    # A BMC may put the submitted user name or worse in its message: keep it out.
    error = translate(http_error(401, "bad password hunter2 for root"), "logging in")
    assert "hunter2" not in str(error)


def test_our_own_bugs_are_not_disguised() -> None:
    with pytest.raises(ZeroDivisionError), translated("anything"):
        raise ZeroDivisionError


@pytest.mark.parametrize(("said", "quote"), [
    (b"", "(empty)"),
    (b"  \n ", "(empty)"),
    (b"<html>\n  <body>Moved</body></html>", "'<html> <body>Moved</body></html>'"),
    ('{"UserName": "root", "Password": "hunter2", "Token": "abc"}',
     '\'{"UserName": "root", "Password": "***", "Token": "***"}\''),
    (b"x" * 500, repr("x" * QUOTE_CHARS + "…")),
])
def test_what_a_bmc_said_is_quoted_short_and_without_secrets(said: str | bytes,
                                                             quote: str) -> None:
    assert quoted(said) == quote


def test_an_answer_that_is_not_json_is_named_and_quoted() -> None:
    try:
        json.loads('{"Members": [')
    except json.JSONDecodeError as exc:
        error = translate(exc, "reading FirmwareInventory")
    assert isinstance(error, RequestRejectedError) and not error.transient
    assert str(error).startswith("reading FirmwareInventory: the BMC's answer is not JSON")
    assert str(error).endswith("""'{"Members": ['""")
