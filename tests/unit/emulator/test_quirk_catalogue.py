"""The quirk catalogue: names, values and contradictions are checked at start-up."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from emulator.cli import emulator
from emulator.errors import ConfigError
from emulator.quirks import CATALOGUE, parse_quirks


def test_every_quirk_names_its_vendors_and_public_source() -> None:
    for info in CATALOGUE.values():
        assert info.summary and info.vendors and info.source, info.name
        assert (info.value_help is None) == (info.default_value is None), info.name
        for other in info.conflicts:
            assert info.name in CATALOGUE[other].conflicts, (info.name, other)


def test_values_default_and_override() -> None:
    quirks = parse_quirks(["session-limit", "task-empty-202"])
    assert "task-empty-202" in quirks and "session-limit" in quirks
    assert quirks.value("session-limit") == CATALOGUE["session-limit"].default_value
    assert parse_quirks(["session-limit=2"]).value("session-limit") == 2
    assert "task-location-only" not in quirks
    assert not parse_quirks([])


@pytest.mark.parametrize(("texts", "message"), [
    (["sesion-limit"], "unknown quirk 'sesion-limit' (did you mean 'session-limit'?)"),
    (["task-empty-202=3"], "quirk 'task-empty-202' takes no value"),
    (["session-limit=many"], "quirk 'session-limit' needs a whole number"),
    (["session-limit=-1"], "needs a value of 0 or more"),
    (["task-empty-202", "task-in-body-only"], "contradict each other"),
    (["vmedia-insert-needs-inserted", "vmedia-insert-rejects-inserted-writeprotected"],
     "contradict each other"),
])
def test_bad_quirks_are_refused_naming_them(texts: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_quirks(texts)


def test_serve_refuses_an_unknown_quirk_in_one_line() -> None:
    result = CliRunner().invoke(emulator, ["serve", "--nodes", "1", "--base-port", "0",
                                           "--quirk", "no-such-quirk"])
    assert result.exit_code != 0
    assert "unknown quirk 'no-such-quirk'" in result.output
    assert "Traceback" not in result.output
