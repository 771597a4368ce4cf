"""Identifying a request's source from its address and HTTP Basic credentials."""

from __future__ import annotations

import base64
import ipaddress

from gateway.config import SourceConfig, hash_password
from gateway.intake.credentials import SourceAuthenticator, parse_basic_auth

PASSWORD = "pa:ss wörd"


def _source(name: str, user: str, cidr: str) -> SourceConfig:
    return SourceConfig(name=name, clients=(ipaddress.ip_network(cidr),), username=user,
                        password_hash=hash_password(PASSWORD, iterations=1000),
                        owning_entities=("FLEETFLASH",), image_uri_prefixes=("http://h/",),
                        trusted_key_paths=(), trusted_keys=())


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AUTH = SourceAuthenticator((_source("acme", "acme", "10.0.0.0/8"),
                            _source("lab", "lab", "192.168.0.0/16")))


def test_right_address_and_credentials_identify_the_source() -> None:
    identity = AUTH.identify("10.1.1.1", _basic("acme", PASSWORD))
    assert identity.source is not None and identity.source.name == "acme"
    again = AUTH.identify("10.1.1.1", _basic("acme", PASSWORD))  # cached path
    assert again.source is not None and again.source.name == "acme"


def test_unknown_address_is_forbidden() -> None:
    identity = AUTH.identify("172.16.0.1", _basic("acme", PASSWORD))
    assert (identity.source, identity.http_status) == (None, 403)


def test_missing_or_wrong_credentials_are_unauthorized_without_echo() -> None:
    for header in (None, "Bearer x", "Basic !!!", _basic("acme", "wrong"),
                   _basic("lab", PASSWORD)):  # lab's user from acme's address range
        identity = AUTH.identify("10.1.1.1", header)
        assert identity.source is None and identity.http_status == 401
        assert "wrong" not in identity.reason.replace("wrong credentials", "")
        assert PASSWORD not in identity.reason


def test_wrong_password_after_a_right_one_is_still_refused() -> None:
    assert AUTH.identify("10.1.1.1", _basic("acme", PASSWORD)).source is not None
    assert AUTH.identify("10.1.1.1", _basic("acme", PASSWORD + "x")).source is None


def test_parse_basic_auth_keeps_colons_in_password() -> None:
    assert parse_basic_auth(_basic("u", "a:b")) == ("u", "a:b")
    assert parse_basic_auth("basic " + base64.b64encode(b"nocolon").decode()) is None
