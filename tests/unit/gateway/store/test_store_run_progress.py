"""A node run's progress as stored (gateway.store.run_progress): versioned JSON that
reads what earlier releases wrote, keeps markers it does not know, and refuses a
marker of the wrong type with a message naming it."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain import NodeStep, RunProgress
from gateway.store import StoreError
from gateway.store.run_progress import VERSION, progress_from_json, progress_to_json

AT = datetime(2026, 12, 6, 8, 30, 15, 123456, tzinfo=UTC)

# Rows as the release before typed progress wrote them (its dict, json.dumps'd):
# MSC delivery about to reset, a task-based delivery redelivered after a restart, a
# Slurm drain that cancelled jobs, a failure.
LEGACY_ROWS = [
    ({"own_media": ["http://127.0.0.1:8/m/abc/image.iso"], "own_boot": True,
      "reset_intent": AT.isoformat(), "epoch": "0f1e2d3c4b5a6978"},
     RunProgress(own_media=("http://127.0.0.1:8/m/abc/image.iso",), own_boot=True,
                 reset_intent=AT, epoch="0f1e2d3c4b5a6978")),
    ({"update_intent": AT.isoformat(), "epoch": "aa", "task": None, "task_uri": None,
      "redeliveries": 1, "settle_until": None, "behind": "BIOS 1.0 (want 1.5)",
      "bmc_said": "task Running at 40 %", "retries": 2},
     RunProgress(update_intent=AT, epoch="aa", redeliveries=1, behind="BIOS 1.0 (want 1.5)",
                 bmc_said="task Running at 40 %", retries=2)),
    ({"drained_by_us": "n001", "drain_requested_at": AT.isoformat(),
      "cancelled_jobs": [17, 18], "host_reset_sent": AT.isoformat(), "media": True},
     RunProgress(drained_by_us="n001", drain_requested_at=AT, cancelled_jobs=(17, 18),
                 host_reset_sent=AT, media=True)),
    ({"resume": "left alone: Slurm shows drained (maintenance)", "failed_in": "monitor"},
     RunProgress(resume="left alone: Slurm shows drained (maintenance)",
                 failed_in=NodeStep.MONITOR)),
    ({}, RunProgress()),
]


@pytest.mark.parametrize(("row", "expected"), LEGACY_ROWS)
def test_rows_of_the_previous_release_load_with_every_marker(
        row: dict[str, object], expected: RunProgress) -> None:
    assert progress_from_json(json.dumps(row)) == expected


# Every marker the release before typed progress wrote (a marker added since has no
# legacy form, and needs no change here).
LEGACY_MARKERS = frozenset({
    "update_intent", "task", "task_uri", "reset_intent", "own_media", "own_boot", "media",
    "epoch", "redeliveries", "settle_until", "behind", "bmc_said", "host_reset_sent",
    "drained_by_us", "drain_requested_at", "cancelled_jobs", "resume", "retries",
    "failed_in"})


def test_every_legacy_marker_is_a_field_and_covered_by_the_rows() -> None:
    assert {f.name for f in fields(RunProgress)} >= LEGACY_MARKERS
    assert {key for row, _ in LEGACY_ROWS for key in row} == LEGACY_MARKERS


def test_the_stored_form_carries_the_version_and_only_what_is_set() -> None:
    stored = json.loads(progress_to_json(RunProgress(update_intent=AT, task="/t/1")))
    assert stored == {"version": VERSION, "update_intent": AT.isoformat(), "task": "/t/1"}
    assert progress_from_json("") == RunProgress() == progress_from_json("{}")


def test_markers_of_a_newer_release_are_kept_and_written_back() -> None:
    row = {"version": VERSION + 1, "epoch": "e", "staged_at": "later", "slot": 2}
    progress = progress_from_json(json.dumps(row))
    assert progress.epoch == "e" and dict(progress.unknown) == {"staged_at": "later", "slot": 2}
    assert json.loads(progress_to_json(progress)) == {**row, "version": VERSION}


@pytest.mark.parametrize(("text", "message"), [
    ('{"redeliveries": "two"}', "'redeliveries'"),
    ('{"own_media": "http://x/a.iso"}', "'own_media'"),
    ('{"update_intent": "yesterday"}', "'update_intent'"),
    ('{"failed_in": "nowhere"}', "'failed_in'"),
    ('{"retries": true}', "'retries'"),
    ('{"version": "1"}', "version"),
    ("[1, 2]", "not a JSON object"),
    ("{not json", "not JSON"),
])
def test_an_unreadable_row_is_a_store_error_naming_the_marker(text: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        progress_from_json(text)


text = st.text(max_size=20)
moments = st.datetimes(timezones=st.just(UTC))


@given(st.builds(
    RunProgress, update_intent=st.none() | moments, task=st.none() | text,
    own_media=st.lists(text, max_size=3).map(tuple), own_boot=st.booleans(),
    redeliveries=st.integers(0, 10), settle_until=st.none() | moments,
    percent=st.none() | st.integers(0, 100),
    cancelled_jobs=st.none() | st.lists(st.integers(0, 10**6), max_size=3).map(tuple),
    failed_in=st.none() | st.sampled_from(NodeStep), unknown=st.just({})))
def test_what_is_stored_loads_back_equal(progress: RunProgress) -> None:
    assert progress_from_json(progress_to_json(progress)) == progress
