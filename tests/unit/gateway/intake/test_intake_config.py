"""The gateway TOML configuration: defaults, strictness and clear errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gateway.api.settings import LoggingSettings, api_settings, logging_settings
from gateway.config import ConfigError, hash_password, load_config, password_matches
from gateway.domain import WithdrawalPolicy
from gateway.media.config import media_config, usb_config
from tests.conftest import TestKeys

EXAMPLE = Path(__file__).resolve().parents[4] / "docs" / "examples" / "gateway.toml"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(body)
    return path


def _source(test_keys: TestKeys, **extra: str) -> str:
    fields = {
        "name": '"acme"', "clients": '["10.0.0.0/8"]', "username": '"acme"',
        "password_hash": f'"{hash_password("pw", iterations=1000)}"',
        "owning_entities": '["FLEETFLASH"]',
        "image_uri_prefixes": '["https://updates.acme.example/fw/"]',
        "trusted_keys": f'["{test_keys.public}"]',
    }
    fields.update(extra)
    return "[[sources]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v)


def test_minimal_config_gets_documented_defaults(tmp_path: Path, test_keys: TestKeys) -> None:
    config = load_config(_write(tmp_path, _source(test_keys)))
    assert config.state_dir == (tmp_path / "var" / "gateway").resolve()
    assert config.database_url == f"sqlite:///{config.state_dir / 'gateway.db'}"
    assert config.listener.http == ("0.0.0.0", 5988) and config.listener.https is None
    assert config.cache_dir == config.state_dir / "images"
    source = config.source("acme")
    assert source is not None and source.admits_client("10.1.2.3")
    assert not source.admits_client("192.168.0.1")
    assert source.admits_client("::ffff:10.0.0.7")  # IPv4-mapped IPv6 peer
    assert len(source.trusted_keys) == 1
    assert source.withdrawal is WithdrawalPolicy.FINISH_IN_FLIGHT
    stop = load_config(_write(tmp_path, _source(test_keys, withdrawal='"stop_now"')))
    assert stop.sources[0].withdrawal is WithdrawalPolicy.STOP_NOW


def test_sections_of_other_packages_are_checked_too(tmp_path: Path,
                                                     test_keys: TestKeys) -> None:
    with pytest.raises(ConfigError, match=r"^media: unknown key 'port' \(known: base_url, "):
        load_config(_write(tmp_path, _source(test_keys) + "[media]\nport = 8080\n"))
    config = load_config(_write(tmp_path, _source(test_keys)))
    assert config.file.media is None and config.file.api is None


def test_password_hash_is_not_in_repr(tmp_path: Path, test_keys: TestKeys) -> None:
    config = load_config(_write(tmp_path, _source(test_keys)))
    assert "pbkdf2" not in repr(config)


BAD = [
    ("typo in listener key", "[listener]\nhtp = \"0.0.0.0:1\"\n",
     r"^listener: unknown key 'htp' \(did you mean 'http'\?\)$"),
    ("https without cert", "[listener]\nhttps = \"0.0.0.0:5989\"\n", "certfile"),
    ("bad address", "[listener]\nhttp = \"localhost\"\n", "HOST:PORT"),
    ("bad cache size", "[cache]\nmax_size = \"lots\"\n", "cache.max_size"),
    ("http and https on different hosts", "[listener]\nhttp = \"127.0.0.1:1\"\n"
     "https = \"0.0.0.0:2\"\ncertfile = \"c\"\nkeyfile = \"k\"\n", "same host"),
]


@pytest.mark.parametrize(("description", "toml", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_sections_are_reported_by_key(tmp_path: Path, test_keys: TestKeys,
                                          description: str, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, toml + _source(test_keys)))


BAD_SOURCES = [
    ("clear-text password instead of hash", {"password_hash": '"hunter2"'}, "password_hash"),
    ("bad CIDR", {"clients": '["10.0.0.0/33"]'}, "bad client range"),
    ("prefix with userinfo", {"image_uri_prefixes": '["https://u@h/"]'}, "image_uri_prefixes"),
    ("file prefix", {"image_uri_prefixes": '["file:///srv/"]'}, "image_uri_prefixes"),
    ("no owning entities", {"owning_entities": "[]"}, "owning_entities"),
    ("missing key file", {"trusted_keys": '["nope.pub"]'}, "cannot read trusted key"),
    ("unknown field", {"colour": '"red"'}, "unknown key"),
    ("unknown withdrawal policy", {"withdrawal": '"finish"'},
     r"withdrawal.*finish_in_flight.*stop_now"),
]


@pytest.mark.parametrize(("description", "fields", "message"), BAD_SOURCES,
                         ids=[b[0] for b in BAD_SOURCES])
def test_bad_sources_are_reported(tmp_path: Path, test_keys: TestKeys, description: str,
                                  fields: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_config(_write(tmp_path, _source(test_keys, **fields)))
    assert "hunter2" not in str(error.value)


def test_private_key_is_not_accepted_as_trusted_key(tmp_path: Path, test_keys: TestKeys) -> None:
    with pytest.raises(ConfigError, match="not a PEM public key"):
        load_config(_write(tmp_path, _source(test_keys,
                                             trusted_keys=f'["{test_keys.private}"]')))


def test_missing_and_invalid_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[gateway\n"))


def test_password_hash_round_trip() -> None:
    stored = hash_password("s3cret", iterations=1000)
    assert password_matches("s3cret", stored)
    assert not password_matches("s3cret ", stored)
    assert not password_matches("s3cret", "garbage")


def test_documented_example_config_loads(tmp_path: Path, test_keys: TestKeys) -> None:
    copy = tmp_path / "gateway.toml"
    shutil.copy(EXAMPLE, copy)
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(test_keys.public, keys / "acme-signing.pub")
    (tmp_path / "tls").mkdir()
    config = load_config(copy)
    assert [s.name for s in config.sources] == ["acme", "in-house"]
    assert config.file.usb is None and config.file.api is None  # commented out


def test_commented_example_sections_are_valid_once_uncommented(
        tmp_path: Path, test_keys: TestKeys) -> None:
    # "#key = value" lines are settings; "# text" lines are prose and stay comments.
    text = re.sub(r"(?m)^#(?=[\[a-z])", "", EXAMPLE.read_text())
    copy = _write(tmp_path, text)
    (tmp_path / "keys").mkdir()
    shutil.copy(test_keys.public, tmp_path / "keys" / "acme-signing.pub")
    config = load_config(copy)
    usb = usb_config(config)
    assert usb.source == "usb-key" and usb.poll_interval_s == 2.0
    assert usb.source not in {s.name for s in config.sources}
    media = media_config(config)
    assert media.https == ("0.0.0.0", 8443) and media.base_url.startswith("https://")
    assert media.certfile == tmp_path / "tls" / "media.crt"
    api = api_settings(config)
    assert (api.host, api.port, api.tls) == ("127.0.0.1", 8000, True)
    assert logging_settings(config) == LoggingSettings("json", "INFO")
