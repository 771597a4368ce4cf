"""The rollout invariant checker (lab.lab_invariants) on hand-written audit logs: it passes
a clean rollout and names the offender of each kind of violation."""

from __future__ import annotations

from typing import Any

import pytest

from lab.lab_invariants import check_rollout

NODES = {"bmc-0000": "a-1", "bmc-0001": "a-2", "bmc-0002": "b-1"}
GROUPS = {"a-1": "a", "a-2": "a", "b-1": "b"}
ALLOWANCE = {"a": 1, "b": 1}


def _event(second: int, bmc: str, event: str, **extra: Any) -> dict[str, Any]:
    return {"ts": f"2026-11-25T10:00:{second:02d}.000+00:00", "bmc": bmc, "event": event,
            **extra}


def _update(start: int, bmc: str, components: tuple[str, ...] = ("BIOS",)) -> list[dict[str, Any]]:
    records = [_event(start, bmc, "media_insert", image="http://m/x.iso")]
    for component in components:
        records += [_event(start + 1, bmc, "flash_start", component=component),
                    _event(start + 2, bmc, "flash_end", component=component)]
    return records + [_event(start + 3, bmc, "media_eject", image="http://m/x.iso")]


CLEAN = (_update(0, "bmc-0000") + _update(3, "bmc-0001") + _update(0, "bmc-0002")
         + [_event(0, "bmc-0002", "power", state="On")])


def _verdicts(records: list[dict[str, Any]], **kwargs: Any) -> dict[str, tuple[bool, str]]:
    checks = check_rollout(sorted(records, key=lambda r: r["ts"]), node_of_bmc=NODES,
                           group_of_node=GROUPS, allowance=ALLOWANCE, **kwargs)
    return {check.name: (check.ok, check.detail) for check in checks}


def test_a_clean_rollout_passes_every_check() -> None:
    verdicts = _verdicts(CLEAN, final_steps={"a-1": "done", "a-2": "done", "b-1": "done"})
    assert all(ok for ok, _detail in verdicts.values()), verdicts
    assert verdicts["no node flashed twice"][1] == "3 component writes, none repeated"
    assert verdicts["no media left inserted"][1] == "3 inserts, all ejected"


@pytest.mark.parametrize(("description", "records", "check", "offender"), [
    ("a component written twice", CLEAN + [_event(50, "bmc-0000", "flash_start", component="BIOS"),
                                           _event(51, "bmc-0000", "flash_end", component="BIOS")],
     "no node flashed twice", "a-1 BIOS"),
    ("two writes of one component at once",
     CLEAN + [_event(50, "bmc-0001", "flash_start", component="NIC"),
              _event(50, "bmc-0001", "flash_start", component="NIC")],
     "no node flashed twice", "a-2 NIC: a second write started"),
    ("two nodes of a group down together", _update(0, "bmc-0000") + _update(1, "bmc-0001"),
     "max down per group within allowance", "a: 2 down (allowance 1)"),
    ("media never ejected", CLEAN + [_event(59, "bmc-0002", "media_insert", image="x")],
     "no media left inserted", "still inserted on b-1"),
])
def test_each_violation_fails_its_check_and_names_the_offender(
        description: str, records: list[dict[str, Any]], check: str, offender: str) -> None:
    ok, detail = _verdicts(records)[check]
    assert not ok, description
    assert offender in detail, (description, detail)


def test_a_failed_write_may_be_retried() -> None:
    retried = CLEAN + [_event(40, "bmc-0002", "flash_start", component="NIC"),
                       _event(41, "bmc-0002", "flash_failed", component="NIC"),
                       _event(41, "bmc-0002", "flash_failed", component="NIC", source="cd"),
                       _event(42, "bmc-0002", "flash_start", component="NIC"),
                       _event(43, "bmc-0002", "flash_end", component="NIC")]
    assert _verdicts(retried)["no node flashed twice"][0]


@pytest.mark.parametrize(("description", "steps", "expected", "ok", "detail"), [
    ("failed node quarantined, rest done", {"a-1": "done", "a-2": "quarantined", "b-1": "done"},
     {"a-2"}, True, "2 done, quarantined: a-2"),
    ("an unexpected quarantine", {"a-1": "quarantined", "a-2": "done", "b-1": "done"},
     set(), False, "quarantined: a-1 (expected none)"),
    ("the faulty node got through", {"a-1": "done", "a-2": "done", "b-1": "done"},
     {"a-2"}, False, "quarantined: none (expected a-2)"),
    ("a node left pending", {"a-1": "done", "a-2": "pending", "b-1": "not_applicable"},
     set(), False, "not done: a-2 (pending)"),
])
def test_outcome_check(description: str, steps: dict[str, str], expected: set[str], ok: bool,
                       detail: str) -> None:
    verdict = _verdicts(CLEAN, final_steps=steps, expected_quarantined=expected)[
        "failed node quarantined, the rest completed"]
    assert verdict[0] is ok, description
    assert detail in verdict[1], (description, verdict[1])
