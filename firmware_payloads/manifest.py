"""The bundle manifest: frozen dataclasses, strict JSON parsing, canonical JSON.

The signature covers the exact manifest bytes stored in the image, so the
serialisation only needs to be deterministic (sorted keys, no whitespace,
UTF-8), not canonical in any cryptographic sense.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from firmware_payloads.boot import BootImage, boot_to_dict, parse_boot
from firmware_payloads.errors import (
    ManifestError,
    ManifestTooLargeError,
    UnknownSchemaError,
    VersionError,
)
from firmware_payloads.safepaths import check_payload_path
from firmware_payloads.schemes import DEFAULT_SCHEME, VersionScheme, scheme_of

SCHEMA_VERSION = 1
KNOWN_SCHEMA_VERSIONS = frozenset({1})
# A manifest for hundreds of packages is tens of kilobytes; the cap stops a
# hostile image from making a reader download or parse something huge.
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_PACKAGES = 512
# Payloads live in a single ISO 9660 extent, whose length field is 32 bits.
MAX_PAYLOAD_BYTES = 2**32 - 2048

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TOP_FIELDS = frozenset({"schema_version", "bundle_id", "release", "publisher", "packages"})
_PACKAGE_FIELDS = frozenset(
    {"id", "component", "version", "models", "min_from_version", "requires", "reset",
     "path", "size", "sha256"}
)
# Optional package fields: absent in older manifests, which stay valid and byte-identical.
_OPTIONAL_PACKAGE_FIELDS = frozenset({"version_scheme"})


class ResetKind(enum.StrEnum):
    """What must restart after a package is applied."""

    NONE = "none"
    HOST = "host"
    BMC = "bmc"


@dataclass(frozen=True)
class PackageTarget:
    """What a package is and where it may be applied: the fields the publisher's
    PackageSpec and the manifest's Package share."""

    id: str
    component: str
    version: str
    models: tuple[str, ...]
    min_from_version: str | None
    requires: tuple[str, ...]


@dataclass(frozen=True)
class Package(PackageTarget):
    """One firmware payload in the bundle. ``size`` is in bytes, ``sha256`` lowercase hex.
    ``version_scheme``: how the component's versions read and compare (schemes.py)."""

    reset: ResetKind
    path: str
    size: int
    sha256: str
    version_scheme: VersionScheme = DEFAULT_SCHEME

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "component": self.component,
            "version": self.version,
            "models": list(self.models),
            "min_from_version": self.min_from_version,
            "requires": list(self.requires),
            "reset": self.reset.value,
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
        }
        if self.version_scheme != DEFAULT_SCHEME:
            document["version_scheme"] = self.version_scheme.to_dict()
        return document


@dataclass(frozen=True)
class Manifest:
    """The signed description of a bundle; construct with ``from_json``/``from_dict``."""

    schema_version: int
    bundle_id: str
    release: str
    publisher: str
    packages: tuple[Package, ...]
    # El Torito boot images (bootable bundles only); absent from the JSON when
    # empty, so the manifests of non-bootable bundles are byte-for-byte unchanged.
    boot: tuple[BootImage, ...] = ()

    def packages_for_model(self, model: str) -> tuple[Package, ...]:
        """Packages whose ``models`` include ``model`` (exact match), in manifest order."""
        return tuple(pkg for pkg in self.packages if model in pkg.models)

    def package(self, package_id: str) -> Package:
        """The package with this id; raises ManifestError when absent."""
        for pkg in self.packages:
            if pkg.id == package_id:
                return pkg
        raise ManifestError(f"bundle {self.bundle_id!r} has no package {package_id!r}")

    @property
    def models(self) -> tuple[str, ...]:
        """Every model named by any package, sorted."""
        return tuple(sorted({model for pkg in self.packages for model in pkg.models}))

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "schema_version": self.schema_version,
            "bundle_id": self.bundle_id,
            "release": self.release,
            "publisher": self.publisher,
            "packages": [pkg.to_dict() for pkg in self.packages],
        }
        if self.boot:
            document["boot"] = boot_to_dict(self.boot)
        return document

    def to_json(self) -> bytes:
        """Deterministic UTF-8 JSON: sorted keys, no insignificant whitespace."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and fully validate manifest bytes.

        Raises ManifestTooLargeError (over MAX_MANIFEST_BYTES), ManifestError
        (not JSON / schema violation), UnknownSchemaError, UnsafePathError.
        """
        if len(data) > MAX_MANIFEST_BYTES:
            raise ManifestTooLargeError(
                f"manifest is {len(data)} bytes, over the {MAX_MANIFEST_BYTES} byte limit"
            )
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"manifest is not valid UTF-8 JSON: {exc}") from exc
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: Any) -> Manifest:
        """Validate a decoded JSON document; same errors as ``from_json``."""
        if not isinstance(document, dict):
            raise ManifestError("manifest must be a JSON object")
        schema = document.get("schema_version")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise ManifestError("manifest field 'schema_version' must be an integer")
        if schema not in KNOWN_SCHEMA_VERSIONS:
            raise UnknownSchemaError(
                f"unknown manifest schema_version {schema} (this reader knows "
                f"{', '.join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))})"
            )
        boot = parse_boot(document["boot"]) if "boot" in document else ()
        _reject_unknown_fields(
            {key: value for key, value in document.items() if key != "boot"},
            _TOP_FIELDS, "manifest",
        )
        raw_packages = document.get("packages")
        if not isinstance(raw_packages, list) or not raw_packages:
            raise ManifestError("manifest field 'packages' must be a non-empty list")
        if len(raw_packages) > MAX_PACKAGES:
            raise ManifestError(f"manifest lists more than {MAX_PACKAGES} packages")
        manifest = cls(
            schema_version=schema,
            bundle_id=_text(document, "bundle_id", "manifest"),
            release=_text(document, "release", "manifest"),
            publisher=_text(document, "publisher", "manifest"),
            packages=tuple(_parse_package(raw, index) for index, raw in enumerate(raw_packages)),
            boot=boot,
        )
        _check_cross_references(manifest)
        return manifest


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Serialise deterministically (sorted keys, compact separators, UTF-8)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _reject_unknown_fields(obj: Mapping[str, Any], allowed: frozenset[str], where: str,
                           optional: frozenset[str] = frozenset()) -> None:
    unknown = sorted(set(obj) - allowed - optional)
    if unknown:
        raise ManifestError(f"{where} has unknown field(s): {', '.join(map(repr, unknown))}")
    missing = sorted(allowed - set(obj))
    if missing:
        raise ManifestError(f"{where} is missing field(s): {', '.join(map(repr, missing))}")


def _text(obj: Mapping[str, Any], name: str, where: str, limit: int = 200) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ManifestError(
            f"{where} field {name!r} must be a non-empty string of at most {limit} characters"
        )
    return value


def _version_text(value: Any, name: str, where: str,
                  scheme: VersionScheme = DEFAULT_SCHEME) -> str:
    if not isinstance(value, str):
        raise ManifestError(f"{where} field {name!r} must be a version string")
    try:
        scheme.key(value)
    except VersionError as exc:
        raise ManifestError(f"{where} field {name!r}: {exc}") from exc
    return value


def _parse_package(raw: Any, index: int) -> Package:
    if not isinstance(raw, dict):
        raise ManifestError(f"package #{index} must be a JSON object")
    package_id = raw.get("id")
    if not isinstance(package_id, str) or not _ID_RE.match(package_id):
        raise ManifestError(
            f"package #{index} field 'id' must match [a-z0-9][a-z0-9._-]{{0,63}}"
        )
    where = f"package {package_id!r}"
    _reject_unknown_fields(raw, _PACKAGE_FIELDS, where, _OPTIONAL_PACKAGE_FIELDS)
    scheme = scheme_of(raw.get("version_scheme"), f"{where} field 'version_scheme'")
    component = raw["component"]
    if not isinstance(component, str) or not _COMPONENT_RE.match(component):
        raise ManifestError(f"{where} field 'component' must match [A-Za-z0-9][A-Za-z0-9_-]*")
    models = raw["models"]
    if (
        not isinstance(models, list)
        or not models
        or not all(isinstance(m, str) and m.strip() and len(m) <= 64 for m in models)
        or len(set(models)) != len(models)
    ):
        raise ManifestError(f"{where} field 'models' must be a non-empty list of distinct names")
    requires = raw["requires"]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ManifestError(f"{where} field 'requires' must be a list of package ids")
    try:
        reset = ResetKind(raw["reset"])
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{where} field 'reset' must be one of none, host, bmc") from exc
    size = raw["size"]
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_PAYLOAD_BYTES:
        raise ManifestError(f"{where} field 'size' must be an integer 0..{MAX_PAYLOAD_BYTES}")
    sha256 = raw["sha256"]
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
        raise ManifestError(f"{where} field 'sha256' must be 64 lowercase hex digits")
    min_from = raw["min_from_version"]
    if min_from is not None and not scheme.ordered:
        raise ManifestError(f"{where}: min_from_version needs an ordered version scheme "
                            f"({scheme.kind.value} only knows equality)")
    return Package(
        id=package_id,
        component=component,
        version=_version_text(raw["version"], "version", where, scheme),
        models=tuple(models),
        min_from_version=None
        if min_from is None
        else _version_text(min_from, "min_from_version", where, scheme),
        requires=tuple(requires),
        reset=reset,
        path=check_payload_path(raw["path"], package_id=package_id),
        size=size,
        sha256=sha256,
        version_scheme=scheme,
    )


def _check_cross_references(manifest: Manifest) -> None:
    """Unique ids and paths, one package per (model, component), requires resolvable, acyclic."""
    by_id: dict[str, Package] = {}
    paths: set[str] = set()
    slots: dict[tuple[str, str], str] = {}
    for pkg in manifest.packages:
        if pkg.id in by_id:
            raise ManifestError(f"duplicate package id {pkg.id!r}")
        by_id[pkg.id] = pkg
        if pkg.path.lower() in paths:
            raise ManifestError(f"package {pkg.id!r} reuses payload path {pkg.path!r}")
        paths.add(pkg.path.lower())
        for model in pkg.models:
            other = slots.setdefault((model, pkg.component), pkg.id)
            if other != pkg.id:
                raise ManifestError(
                    f"packages {other!r} and {pkg.id!r} both update {pkg.component} on {model!r}"
                )
    for pkg in manifest.packages:
        for dep_id in pkg.requires:
            dep = by_id.get(dep_id)
            if dep is None:
                raise ManifestError(f"package {pkg.id!r} requires unknown package {dep_id!r}")
            if dep_id == pkg.id:
                raise ManifestError(f"package {pkg.id!r} requires itself")
            uncovered = sorted(set(pkg.models) - set(dep.models))
            if uncovered:
                raise ManifestError(
                    f"package {pkg.id!r} requires {dep_id!r}, which does not cover "
                    f"model(s) {', '.join(uncovered)}"
                )
    _check_acyclic(by_id)


def _check_acyclic(by_id: Mapping[str, Package]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished

    def visit(package_id: str, trail: list[str]) -> None:
        mark = state.get(package_id)
        if mark == 2:
            return
        if mark == 1:
            cycle = trail[trail.index(package_id):] + [package_id]
            raise ManifestError(f"dependency cycle: {' -> '.join(cycle)}")
        state[package_id] = 1
        for dep_id in by_id[package_id].requires:
            visit(dep_id, trail + [package_id])
        state[package_id] = 2

    for package_id in by_id:
        visit(package_id, [])
