"""The layer rules of docs/architecture.md, read from the import statements of the source.

Persistence lives only in gateway/store: no other gateway module, and none of
the command-line modules, imports SQLAlchemy or Alembic. The web layers and
CLIs also stay off the store's table classes (they call store functions and
get plain records back). Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PERSISTENCE_LIBRARIES = ("sqlalchemy", "alembic")
TABLE_MODULES = ("gateway.store.models", "gateway.store.api_tables",
                 "gateway.store.campaign_tables", "gateway.store.database")
FRONT_ENDS = [*sorted((REPO_ROOT / "gateway" / "api").rglob("*.py")),
              REPO_ROOT / "gateway" / "cli.py", *sorted((REPO_ROOT / "lab").glob("cli*.py"))]


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a module of `package` with this source imports, by absolute dotted
    name (relative imports resolved; `from m import n` counts as m and m.n)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def offenders(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        package = ".".join(path.relative_to(REPO_ROOT).parts[:-1])
        hits = sorted(name for name in imported_modules(path.read_text(encoding="utf-8"), package)
                      if any(name == f or name.startswith(f + ".") for f in forbidden))
        if hits:
            found[str(path.relative_to(REPO_ROOT))] = hits
    return found


def test_the_checker_sees_every_kind_of_import() -> None:
    source = ("import sqlalchemy as sa\nfrom sqlalchemy.orm import Session\n"
              "def f() -> None:\n    from alembic import command\n"
              "from ..store import models\nfrom . import auth\n")
    names = imported_modules(source, "gateway.api")
    assert {"sqlalchemy", "sqlalchemy.orm", "alembic.command", "gateway.store.models",
            "gateway.api.auth"} <= names


def test_api_metrics_and_cli_modules_import_no_persistence_library() -> None:
    assert len(FRONT_ENDS) > 20  # the globs found the modules
    assert offenders(FRONT_ENDS, PERSISTENCE_LIBRARIES) == {}


def test_only_the_store_imports_a_persistence_library() -> None:
    gateway = REPO_ROOT / "gateway"
    outside_store = [p for p in sorted(gateway.rglob("*.py"))
                     if gateway / "store" not in p.parents]
    assert offenders(outside_store, PERSISTENCE_LIBRARIES) == {}


def test_front_ends_use_store_functions_not_its_tables() -> None:
    assert offenders(FRONT_ENDS, TABLE_MODULES) == {}
