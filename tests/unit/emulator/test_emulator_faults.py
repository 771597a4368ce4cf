"""Fault definitions: validation, the CLI syntax, counts that expire, change hooks."""

from __future__ import annotations

import pytest

from emulator.errors import ConfigError
from emulator.faults import FaultKind, FaultSet, make_fault, parse_fault_option


@pytest.mark.parametrize(
    ("description", "kind", "params", "error"),
    [
        ("unknown kind", "meteor", {}, "unknown fault kind 'meteor'"),
        ("unknown parameter", "latency", {"speed": 1}, "unknown parameter 'speed'"),
        ("non-numeric seconds", "latency", {"seconds": "soon"}, "invalid value 'soon'"),
        ("negative seconds", "latency", {"seconds": -1}, "must not be negative"),
        ("bad unreachable mode", "unreachable", {"mode": "sometimes"}, "invalid value"),
        ("boolean is not a count", "service_unavailable", {"count": True}, "invalid value"),
    ],
)
def test_invalid_faults_are_refused_with_a_clear_message(
    description: str, kind: str, params: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        make_fault(kind, params)


def test_defaults_and_parsed_values() -> None:
    assert make_fault("latency").params == {"seconds": 0.5}
    assert make_fault("unreachable").params == {"mode": "refuse"}
    assert make_fault("flash_fails", {"component": "BIOS", "count": "2"}).params == {
        "component": "BIOS", "count": 2}


@pytest.mark.parametrize(
    ("text", "bmc", "kind", "params"),
    [
        ("bmc-0001=latency", "bmc-0001", "latency", {"seconds": 0.5}),
        ("bmc-0002=latency:seconds=2", "bmc-0002", "latency", {"seconds": 2.0}),
        ("bmc-0003=unreachable:mode=timeout", "bmc-0003", "unreachable", {"mode": "timeout"}),
        ("bmc-0004=flash_fails:component=BIOS,count=1", "bmc-0004", "flash_fails",
         {"component": "BIOS", "count": 1}),
    ],
)
def test_cli_syntax(text: str, bmc: str, kind: str, params: dict[str, object]) -> None:
    parsed_bmc, fault = parse_fault_option(text)
    assert (parsed_bmc, fault.kind.value, dict(fault.params)) == (bmc, kind, params)


@pytest.mark.parametrize("text", ["latency", "=latency", "bmc-1=", "bmc-1=latency:seconds"])
def test_cli_syntax_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_fault_option(text)


def test_count_expires_the_fault_and_notifies() -> None:
    changes: list[int] = []
    faults = FaultSet(on_change=lambda f: changes.append(len(f.all())))
    faults.set("service_unavailable", count=2)
    assert faults.hit(FaultKind.SERVICE_UNAVAILABLE) is not None
    assert faults.hit(FaultKind.SERVICE_UNAVAILABLE) is not None
    assert faults.hit(FaultKind.SERVICE_UNAVAILABLE) is None
    assert changes == [1, 0]


def test_component_scoped_fault_only_hits_that_component() -> None:
    faults = FaultSet()
    faults.set("flash_fails", component="BIOS")
    assert faults.hit(FaultKind.FLASH_FAILS, "NIC") is None
    assert faults.hit(FaultKind.FLASH_FAILS, "BIOS") is not None
    faults.clear()
    assert faults.all() == []
