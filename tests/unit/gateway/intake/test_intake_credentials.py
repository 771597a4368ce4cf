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


class FakeClock:
    """A hand-moved monotonic clock: backoff windows without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _guarded(clock: FakeClock, failures: int = 3) -> SourceAuthenticator:
    from gateway.intake.credentials import BackoffSettings, LoginBackoff

    return SourceAuthenticator(
        (_source("acme", "acme", "10.0.0.0/8"),),
        LoginBackoff(BackoffSettings(failures=failures, base_delay_s=2, max_delay_s=16), clock))


def test_guessing_backs_off_exponentially_with_one_pbkdf2_per_window() -> None:
    clock = FakeClock()
    auth = _guarded(clock)
    for _ in range(3):
        assert auth.identify("10.6.6.6", _basic("acme", "guess")).http_status == 401
    assert auth.password_checks == 3
    delays = []
    for _ in range(6):
        refused = [auth.identify("10.6.6.6", _basic("acme", "guess")) for _ in range(50)]
        assert {r.http_status for r in refused} == {429}
        delays.append(refused[0].retry_after_s)
        clock.now += refused[0].retry_after_s  # the window passes: one more check
        assert auth.identify("10.6.6.6", _basic("acme", "guess")).http_status == 401
    assert delays == [2, 4, 8, 16, 16, 16]
    assert auth.password_checks == 3 + 6  # one PBKDF2 per window, 300 refused for free


def test_failures_from_one_address_never_lock_out_another() -> None:
    clock = FakeClock()
    auth = _guarded(clock)
    for _ in range(10):
        auth.identify("10.6.6.6", _basic("acme", "guess"))
    assert auth.identify("10.6.6.6", _basic("acme", PASSWORD)).http_status == 429
    good = auth.identify("10.1.1.1", _basic("acme", PASSWORD))
    assert good.source is not None and good.source.name == "acme"


def test_a_correct_login_after_the_window_clears_the_address() -> None:
    clock = FakeClock()
    auth = _guarded(clock)
    for _ in range(3):
        auth.identify("10.2.2.2", _basic("acme", "guess"))
    blocked = auth.identify("10.2.2.2", _basic("acme", PASSWORD))
    assert blocked.http_status == 429
    clock.now += blocked.retry_after_s
    assert auth.identify("10.2.2.2", _basic("acme", PASSWORD)).source is not None
    assert auth.backoff.failures("10.2.2.2") == 0
    assert auth.identify("10.2.2.2", _basic("acme", "guess")).http_status == 401  # not 429


def test_backoff_settings_are_validated() -> None:
    import pytest

    from gateway.config import ConfigError, parse_config
    from gateway.intake.credentials import backoff_settings

    def config(table: dict[str, object]) -> object:
        from pathlib import Path

        return backoff_settings(parse_config({"login_backoff": table}, Path("/x/g.toml")))

    assert config({"failures": 2, "base_delay_s": 0.5, "max_delay_s": 60}) is not None
    for bad in ({"failures": 0}, {"failures": True}, {"base_delay_s": "1"},
                {"max_delay_s": 0.1, "base_delay_s": 1}, {"attempts": 3}):
        with pytest.raises(ConfigError):
            config(bad)
