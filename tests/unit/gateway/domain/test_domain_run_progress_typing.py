"""A misspelt crash-safety marker is a type error: `mypy --strict` (the project's own
check) reports a handler that sets or reads a marker RunProgress does not have, and
passes the same code spelt right."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]

HANDLER = """\
from dataclasses import replace
from datetime import datetime

from gateway.domain import RunProgress


def before_the_request(progress: RunProgress, now: datetime, epoch: str) -> RunProgress:
    return replace(progress, {intent}=now, epoch=epoch)


def settled(progress: RunProgress, now: datetime) -> bool:
    return progress.{settle} is not None and now >= progress.{settle}
"""


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    snippet = tmp_path / "handler.py"
    snippet.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "mypy-cache"), "--config-file",
         str(ROOT / "pyproject.toml"), str(snippet)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)


def test_the_markers_spelt_right_pass_mypy_strict(tmp_path: Path) -> None:
    result = _mypy(tmp_path, HANDLER.format(intent="update_intent", settle="settle_until"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("intent", "settle", "reported"), [
    ("update_intnet", "settle_until", 'Unexpected keyword argument "update_intnet"'),
    ("update_intent", "setle_until", '"RunProgress" has no attribute "setle_until"'),
])
def test_a_misspelt_marker_fails_mypy_strict(tmp_path: Path, intent: str, settle: str,
                                             reported: str) -> None:
    result = _mypy(tmp_path, HANDLER.format(intent=intent, settle=settle))
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported in result.stdout, result.stdout
