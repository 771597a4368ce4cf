"""firmware_payloads depends on nothing of ours (docs/architecture.md dependency rules)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[3] / "firmware_payloads"
OUR_OTHER_PACKAGES = {"gateway", "emulator", "lab", "tests", "bench"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_imports_nothing_of_ours() -> None:
    modules = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(modules) >= 10
    offenders = {
        str(path.relative_to(PACKAGE_DIR)): sorted(imported_roots(path) & OUR_OTHER_PACKAGES)
        for path in modules
        if imported_roots(path) & OUR_OTHER_PACKAGES
    }
    assert offenders == {}
