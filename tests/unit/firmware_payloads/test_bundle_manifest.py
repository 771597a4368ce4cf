"""Manifest parsing: round trip and strict validation, one row per rule."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from firmware_payloads import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestError,
    ManifestTooLargeError,
    ResetKind,
    UnknownSchemaError,
    UnsafePathError,
)


def package(pid: str = "bmc-2.0", **changes: Any) -> dict[str, Any]:
    base = {"id": pid, "component": "BMC", "version": "2.0", "models": ["M1"],
            "min_from_version": None, "requires": [], "reset": "bmc",
            "path": f"payloads/{pid}.bin", "size": 10, "sha256": "ab" * 32}
    base.update(changes)
    return base


def document(*packages: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = {"schema_version": 1, "bundle_id": "b1", "release": "2026.Q4", "publisher": "p",
           "packages": list(packages) or [package()]}
    doc.update(changes)
    return doc


def test_round_trip_is_byte_identical() -> None:
    original = Manifest.from_dict(document(package(), package("bios-1.0", component="BIOS",
                                                                requires=["bmc-2.0"])))
    data = original.to_json()
    assert Manifest.from_json(data) == original
    assert Manifest.from_json(data).to_json() == data
    assert original.packages[0].reset is ResetKind.BMC
    assert original.packages_for_model("M1") == original.packages
    assert original.packages_for_model("other") == ()


def test_unknown_schema_version() -> None:
    with pytest.raises(UnknownSchemaError, match="unknown manifest schema_version 2 "):
        Manifest.from_json(json.dumps(document(schema_version=2)).encode())


def test_oversized_manifest_is_refused_before_parsing() -> None:
    data = b" " * MAX_MANIFEST_BYTES + b"{}"
    with pytest.raises(ManifestTooLargeError, match="over the 1048576 byte limit"):
        Manifest.from_json(data)


def test_not_json() -> None:
    with pytest.raises(ManifestError, match="not valid UTF-8 JSON"):
        Manifest.from_json(b"\xff{")


@pytest.mark.parametrize(
    ("description", "path", "message"),
    [
        ("parent traversal", "../../etc/passwd", r"escapes the bundle \('\.\.'\)"),
        ("traversal in the middle", "payloads/../../x.bin", "escapes the bundle"),
        ("absolute", "/etc/passwd", "is absolute"),
        ("backslash", "payloads\\..\\x.bin", "contains a backslash"),
        ("NUL byte", "payloads/x.bin\x00.txt", "contains a NUL byte"),
        ("empty component", "payloads//x.bin", "empty or '.' component"),
        ("dot component", "./x.bin", "empty or '.' component"),
        ("control character", "payloads/x\n.bin", "must be 1-64 characters"),
        ("too deep", "a/b/c/d/e/f/g/h/i.bin", "nested deeper than 8"),
        ("empty", "", "payload path is empty"),
    ],
)
def test_unsafe_paths(description: str, path: str, message: str) -> None:
    with pytest.raises(UnsafePathError, match=message):
        Manifest.from_dict(document(package(path=path)))


def replace_field(name: str, value: Any) -> dict[str, Any]:
    return document(package(**{name: value}))


def without(name: str) -> dict[str, Any]:
    doc = document()
    del doc["packages"][0][name]
    return doc


@pytest.mark.parametrize(
    ("description", "doc", "message"),
    [
        ("schema not int", document(schema_version="1"), "'schema_version' must be an integer"),
        ("extra top-level field", document(extra=1), "unknown field.*'extra'"),
        ("no packages", document(packages=[]), "'packages' must be a non-empty list"),
        ("missing field", without("sha256"), "missing field.*'sha256'"),
        ("bad id", replace_field("id", "Bad Id"), "field 'id' must match"),
        ("bad component", replace_field("component", "B M C"), "'component' must match"),
        ("bad version", replace_field("version", "v2"), "field 'version'.*invalid version"),
        ("bad min_from", replace_field("min_from_version", "x"), "'min_from_version'"),
        ("models empty", replace_field("models", []), "'models' must be a non-empty list"),
        ("models duplicate", replace_field("models", ["a", "a"]), "distinct names"),
        ("reset unknown", replace_field("reset", "power"), "'reset' must be one of"),
        ("size negative", replace_field("size", -1), "'size' must be an integer"),
        ("size bool", replace_field("size", True), "'size' must be an integer"),
        ("sha upper case", replace_field("sha256", "AB" * 32), "64 lowercase hex"),
        ("unknown dependency", replace_field("requires", ["ghost"]), "unknown package 'ghost'"),
        ("self dependency", replace_field("requires", ["bmc-2.0"]), "requires itself"),
        ("duplicate id", document(package(), package(path="payloads/other.bin")),
         "duplicate package id"),
        ("duplicate path", document(package(), package("bmc-3", component="NIC",
                                                       path="payloads/bmc-2.0.bin")),
         "reuses payload path"),
        ("two packages for one slot", document(package(), package("bmc-3")),
         "both update BMC on 'M1'"),
        ("dependency misses a model", document(
            package(), package("bios-1", component="BIOS", models=["M1", "M2"],
                               requires=["bmc-2.0"])), "does not cover model.*M2"),
        ("cycle", document(package("a", component="A", requires=["b"]),
                           package("b", component="B", requires=["a"])),
         "dependency cycle: a -> b -> a"),
    ],
)
def test_schema_violations(description: str, doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict(copy.deepcopy(doc))
