"""BMC registrations: validation, TLS choices, and secrets kept out of text."""

from __future__ import annotations

import logging

import pytest

from gateway.redfish import BmcEndpoint, ConfigurationError, TlsMode, normalise_fingerprint

FP = "AB:" * 31 + "CD"


def test_fingerprint_forms_are_normalised() -> None:
    expected = "ab" * 31 + "cd"
    assert normalise_fingerprint(FP) == expected
    assert normalise_fingerprint("sha256:" + expected.upper()) == expected
    with pytest.raises(ConfigurationError, match="64 hex digits"):
        normalise_fingerprint("ab:cd")


@pytest.mark.parametrize(
    ("description", "kwargs", "message"),
    [
        ("not http", {"url": "ftp://bmc"}, "URL must be"),
        ("no host", {"url": "https://"}, "URL must be"),
        ("credentials in URL", {"url": "https://root:pw@bmc"}, "not in the URL"),
        ("no username", {"username": ""}, "username"),
        ("pin without fingerprint", {"tls": TlsMode.PIN}, "needs a fingerprint"),
        ("fingerprint without pin", {"fingerprint": FP}, "only used with tls=pin"),
        ("CA bundle with insecure", {"tls": TlsMode.INSECURE, "ca_bundle": "/x"},
         "ca_bundle"),
        ("zero timeout", {"timeout": 0}, "timeout"),
    ],
)
def test_bad_registrations_name_the_problem(description: str, kwargs: dict[str, object],
                                            message: str) -> None:
    args: dict[str, object] = {"name": "b1", "url": "https://bmc.example", "username": "root",
                               "password": "s3cret-pw"}
    args.update(kwargs)
    with pytest.raises(ConfigurationError, match=message) as caught:
        BmcEndpoint(**args)  # type: ignore[arg-type]
    assert "s3cret-pw" not in str(caught.value)


def test_password_is_not_in_repr_and_url_is_trimmed() -> None:
    endpoint = BmcEndpoint("b1", "https://bmc.example:8443/redfish/v1", "root", "s3cret-pw")
    assert "s3cret-pw" not in repr(endpoint)
    assert endpoint.url == "https://bmc.example:8443"


@pytest.mark.parametrize(
    ("tls", "kwargs", "verify"),
    [
        (TlsMode.VERIFY, {}, True),
        (TlsMode.VERIFY, {"ca_bundle": "/etc/bmc-ca.pem"}, "/etc/bmc-ca.pem"),
        (TlsMode.PIN, {"fingerprint": FP}, False),  # the adapter checks the pin instead
        (TlsMode.INSECURE, {}, False),
    ],
)
def test_requests_verify_follows_the_tls_mode(tls: TlsMode, kwargs: dict[str, str],
                                              verify: bool | str) -> None:
    endpoint = BmcEndpoint("b1", "https://bmc", "root", "pw", tls=tls, **kwargs)  # type: ignore[arg-type]
    assert endpoint.requests_verify() == verify


def test_insecure_and_cleartext_choices_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.redfish.endpoint")
    BmcEndpoint("b1", "https://bmc", "root", "pw", tls=TlsMode.INSECURE).warn_if_insecure()
    BmcEndpoint("b2", "http://10.1.2.3", "root", "pw").warn_if_insecure()
    BmcEndpoint("b3", "http://127.0.0.1:8000", "root", "pw").warn_if_insecure()
    messages = [r.getMessage() for r in caplog.records]
    assert any("b1" in m and "verification is OFF" in m for m in messages)
    assert any("b2" in m and "unencrypted" in m for m in messages)
    assert not any("b3" in m for m in messages)  # loopback: the lab's own emulator
    assert not any("pw" in m.split() for m in messages)
