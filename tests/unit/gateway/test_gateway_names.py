"""Names and exception roots inside gateway (docs/architecture.md, "Dependency rules").

- Every class name is used once in the whole gateway package, so a name in a
  traceback, a log line or a review points at one class.
- Every public exception of a package (gateway.api, gateway.media, ...) derives
  from that package's one root, so a caller can catch "anything from the media
  server" with one clause. Private control-flow exceptions (a leading
  underscore) never leave their module and are exempt.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections import defaultdict
from pathlib import Path

import gateway

GATEWAY_DIR = Path(gateway.__file__).resolve().parent
ROOTS = {
    "api": "gateway.api.errors.ApiError",
    "cim": "gateway.intake.errors.IntakeError",  # the listener is the intake's CIM edge
    "domain": "gateway.domain.errors.DomainError",
    "intake": "gateway.intake.errors.IntakeError",
    "media": "gateway.media.errors.MediaError",
    "orchestrator": "gateway.orchestrator.errors.OrchestratorError",
    "redfish": "gateway.redfish.errors.RedfishError",
    "store": "gateway.store.errors.StoreError",
}


def _class_definitions() -> dict[str, list[str]]:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(GATEWAY_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(f"{path.relative_to(GATEWAY_DIR)}:{node.lineno}")
    return where


def _load(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    loaded = getattr(importlib.import_module(module), name)
    assert isinstance(loaded, type)
    return loaded


def test_class_names_are_unique_inside_gateway() -> None:
    definitions = _class_definitions()
    assert len(definitions) > 100  # the walk found the package
    assert {name: places for name, places in definitions.items() if len(places) > 1} == {}


def test_public_exceptions_derive_from_their_package_root() -> None:
    strays: list[str] = []
    for package, root_name in ROOTS.items():
        root = _load(root_name)
        prefix = f"gateway.{package}"
        modules = [prefix, *(info.name for info in pkgutil.walk_packages(
            [str(GATEWAY_DIR / package)], prefix + ".") if ".migrations" not in info.name)]
        for module_name in modules:
            module = importlib.import_module(module_name)
            for name, value in vars(module).items():
                if (inspect.isclass(value) and issubclass(value, BaseException)
                        and value.__module__ == module_name and not name.startswith("_")
                        and not issubclass(value, root)):
                    strays.append(f"{module_name}.{name} (root: {root_name})")
    assert strays == []
