"""The one typed configuration model: unknown names anywhere, HOST:PORT, one-line errors,
and every configuration the project writes or ships loads."""

from __future__ import annotations

import re
import shutil
import socket
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.api.settings import api_settings
from gateway.config import ConfigError, HostPort, load_config, parse_config
from gateway.config_model import ConfigFile
from gateway.config_schema import config_error, parse_host_port
from gateway.media.config import media_config
from gateway.onboarding.init import InitOptions, init_gateway
from tests.conftest import TestKeys

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
CONFIGURATION = EXAMPLES.parent / "configuration.md"
HERE = Path("/nonexistent/gateway.toml")  # parse_config only resolves paths against it


def _parse(text: str) -> Any:
    return parse_config(tomllib.loads(text), HERE)


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _parse(text)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("text", "expected"), [
    ("[orchestartor]\ntick_s = 1\n",
     "unknown table 'orchestartor' (did you mean 'orchestrator'?)"),
    ("[[bmcs]]\nname = \"n\"\nusename = \"u\"\n",
     "bmcs['n']: unknown key 'usename' (did you mean 'username'?)"),
    ("[[clusters]]\nname = \"c\"\n[[clusters.groups]]\nname = \"g\"\nmax_unavailabel = 1\n",
     "clusters['c'].groups['g']: unknown key 'max_unavailabel' (did you mean "
     "'max_unavailable'?)"),
    ("[[qos_classes]]\nname = \"q\"\nwindows = [{ days = [1], begin = \"22:00\" }]\n",
     "qos_classes['q'].windows[0]: unknown key 'begin' (known: days, hours, start)"),
    ("[front_door.medai]\nmax_connections = 5\n",
     "front_door: unknown table 'medai' (did you mean 'media'?)"),
    ("[orchestrator.timeouts]\nmonitr = 5\n",
     "orchestrator.timeouts: unknown step 'monitr' (did you mean 'monitor'?)"),
    ("[api]\nzzz = 1\n", "api: unknown key 'zzz' (known: certfile, keyfile, listen)"),
])
def test_an_unknown_name_is_refused_with_its_path_and_the_closest_name(
        text: str, expected: str) -> None:
    assert _error(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("[listener]\nhttp = \"localhost\"\n", "listener.http must be HOST:PORT (got 'localhost')"),
    ("[api]\nlisten = \"::1:8000\"\n", "api.listen must be HOST:PORT with an IPv6 host in "
     "brackets, like [::1]:8443 (got '::1:8000')"),
    ("[media]\nbase_url = \"http://gw\"\nhttp = \"0.0.0.0:65536\"\n",
     "media.http must be HOST:PORT with a port in 0..65535 (got '0.0.0.0:65536')"),
    ("[orchestrator]\nevents_http = 8447\n", "orchestrator.events_http must be a string "
     "HOST:PORT"),
    ("[refusals]\nbucket_s = 10\n", "refusals.bucket_s must be an integer in 60..86400"),
    ("[orchestrator]\nleader_share = 1.5\n",
     "orchestrator.leader_share must be a number in 0..1"),
    ("[login_backoff]\nfailures = true\n", "login_backoff.failures must be an integer"),
    ("[[clusters]]\nname = \"c\"\nfailure_budget = \"1\"\n",
     "clusters['c'].failure_budget must be an integer"),
    ("[[clusters]]\nname = \"c\"\ndelivery = []\n", "clusters['c'].delivery must not be empty"),
    ("[[bmcs]]\ncluster = \"c\"\n", "bmcs[0].name is required (and 3 more problems)"),
    ("[logging]\nformat = \"xml\"\n", "logging.format must be \"text\" or \"json\""),
    ("[[clusters]]\nname = \"c\"\n[[clusters]]\nname = \"c\"\n",
     "clusters: name 'c' is used twice; each name must be unique"),
])
def test_a_bad_value_is_one_line_naming_the_key(text: str, expected: str) -> None:
    assert _error(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8000", HostPort("127.0.0.1", 8000)),
    ("[::1]:8443", HostPort("::1", 8443)),
    ("[::]:0", HostPort("::", 0)),
    ("[fe80::1%eth0]:8443", HostPort("fe80::1%eth0", 8443)),
    ("gw.example:65535", HostPort("gw.example", 65535)),
])
def test_host_port_accepts_ipv6_in_brackets_and_checks_the_port(
        text: str, expected: HostPort) -> None:
    assert parse_host_port(text) == expected
    assert str(parse_host_port(text)) == text


@pytest.mark.parametrize("text", ["8000", ":8000", "host:", "host:port", "host:70000",
                                  "::1:8000", "[::1:8000", "[127.0.0.1]:80", "[gw:x]:80",
                                  "a b:1", "[]:80"])
def test_host_port_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(ValueError, match="must be HOST:PORT"):
        parse_host_port(text)


def test_every_address_key_uses_the_one_type() -> None:
    config = _parse('[listener]\nhttp = "[::1]:5988"\n[api]\nlisten = "[::1]:8000"\n'
                    '[media]\nbase_url = "http://gw"\nhttps = "[::]:8444"\n'
                    'certfile = "c"\nkeyfile = "k"\n[orchestrator]\n'
                    'events_http = "[::1]:8447"\n')
    file = config.file
    assert config.listener.http == HostPort("::1", 5988)
    assert file.api is not None and file.api.listen == HostPort("::1", 8000)
    assert file.media is not None and file.media.https == HostPort("::", 8444)
    assert file.orchestrator.events_http == HostPort("::1", 8447)
    assert (api_settings(config).host, api_settings(config).port) == ("::1", 8000)


# -- any misspelt name at any level ------------------------------------------------------

def _example_document() -> dict[str, Any]:
    """The docs example with its commented sections on, plus the cluster examples of
    docs/configuration.md: a valid document that reaches every level of the model."""
    text = re.sub(r"(?m)^#(?=[\[a-z])", "", (EXAMPLES / "gateway.toml").read_text())
    document = tomllib.loads(text)
    blocks = re.findall(r"```toml\n(.*?)```", CONFIGURATION.read_text(), re.S)
    clusters = tomllib.loads(next(b for b in blocks if "[[bmcs]]" in b))
    manager = tomllib.loads(next(b for b in blocks if "[clusters.cluster_manager]" in b))
    cluster = clusters["clusters"][0]
    for hook in ("drain_command", "undrain_webhook"):  # a cluster manager drains instead
        del cluster[hook]
    cluster["cluster_manager"] = manager["clusters"]["cluster_manager"]
    document.update(clusters)
    document["front_door"] = {"head_timeout_s": 5, "media": {"max_connections": 100}}
    return document


def _tables(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every table in the document (array entries by index)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        if path[-1:] != ("node_names",):
            found.append(path)
        for key, item in value.items():
            found += _tables(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _tables(item, (*path, index))
    return found


DOCUMENT = _example_document()
TABLES = _tables(DOCUMENT)


def _dotted(path: tuple[Any, ...], document: dict[str, Any]) -> str:
    """How an error names the table at `path`: array entries by name when they have one."""
    text, value = "", document
    for part in path:
        value = value[part]
        if isinstance(part, int):
            name = value.get("name") if isinstance(value, dict) else None
            text += f"[{name!r}]" if isinstance(name, str) else f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def test_the_document_reaches_every_level_and_is_valid() -> None:
    ConfigFile.model_validate(DOCUMENT)
    assert ("clusters", 0, "cluster_manager") in TABLES
    assert ("qos_classes", 0, "windows", 0) in TABLES


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(TABLES), data=st.data())
def test_any_misspelt_name_at_any_level_is_refused_by_name(where: tuple[Any, ...],
                                                           data: st.DataObject) -> None:
    document = _copy(DOCUMENT)
    table = document
    for part in where:
        table = table[part]
    if table:
        known = data.draw(st.sampled_from(sorted(table)), label="key")
        wrong = data.draw(st.sampled_from([known + "x", known[:-1] + "-", "x" + known,
                                           known.upper()]), label="misspelt")
        assume(wrong not in table)
        table[wrong] = table.pop(known)
    else:
        wrong = data.draw(st.from_regex(r"[a-z]{1,12}", fullmatch=True), label="new")
        table[wrong] = 1
    message = _refusal(document)
    prefix = f"{_dotted(where, document)}: " if where else ""
    assert message.startswith(f"{prefix}unknown "), message
    assert f"{wrong!r}" in message


def _refusal(document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        ConfigFile.model_validate(document)
    return str(config_error(caught.value, document=document))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# -- what the project writes or ships loads ----------------------------------------------

@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_example_loads_also_uncommented(tmp_path: Path, test_keys: TestKeys,
                                                      example: Path) -> None:
    (tmp_path / "keys").mkdir()
    shutil.copy(test_keys.public, tmp_path / "keys" / "acme-signing.pub")
    shutil.copy(test_keys.public, tmp_path / "keys" / "vendor.pub")
    for text in (example.read_text(), re.sub(r"(?m)^#(?=[\[a-z])", "", example.read_text())):
        path = tmp_path / "gateway.toml"
        path.write_text(text)
        assert load_config(path).sources


def test_the_config_gateway_init_writes_loads(tmp_path: Path) -> None:
    result = init_gateway(tmp_path / "gw", InitOptions(
        name="gw-1", listener="127.0.0.1:5989", api="[::1]:8443", media="127.0.0.1:8444",
        host_names=("gw.example",)))
    config = load_config(result.config_path)
    assert config.name == "gw-1" and config.listener.https == HostPort("127.0.0.1", 5989)
    assert config.listener.http is None
    api = api_settings(config)
    assert (api.host, api.port, api.tls) == ("::1", 8443, True)
    # What /api/gateways shows for it: where the other gateways and operators reach it.
    assert api.advertised_url() == "https://[::1]:8443"
    assert replace(api, host="0.0.0.0").advertised_url() == f"https://{socket.gethostname()}:8443"
    assert replace(api, port=0).advertised_url() == ""  # picked at start: not known here
    media = media_config(config)
    assert media.https == HostPort("127.0.0.1", 8444)
    assert media.base_url == "https://gw.example:8444"


def test_the_model_has_a_key_for_every_executor_setting_and_step_timeout() -> None:
    # A tunable added to OrchestratorSettings (or a step to DEFAULT_TIMEOUTS) must get its
    # key in gateway/config_model.py, or it could never be configured.
    from dataclasses import fields

    from gateway.cluster_model import OrchestratorTable, StepTimeouts
    from gateway.orchestrator.settings import DEFAULT_TIMEOUTS, OrchestratorSettings

    assert set(StepTimeouts.model_fields) == {step.value for step in DEFAULT_TIMEOUTS}
    settings = {f.name for f in fields(OrchestratorSettings)} - {"retry"}
    assert set(OrchestratorTable.model_fields) - settings == {
        "retry_attempts", "retry_base_s", "retry_max_s"}
    assert settings <= set(OrchestratorTable.model_fields)
