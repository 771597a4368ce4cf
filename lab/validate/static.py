"""Static checks of a bundle image: format, signature, schema, hashes, then lint.

Nothing here installs anything. `run_static_checks` returns every result
and, only when the image is readable, signed by a trusted key, valid and
intact, the verified `Manifest` that dynamic checks may install.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware_payloads import (
    BundleError,
    BundleReader,
    HashMismatchError,
    Manifest,
    ManifestError,
    Package,
    SignatureError,
    open_bundle,
    verify_manifest,
    verify_payload,
)
from lab.topology import Matrix
from lab.validate.lint import TITLES as LINT_TITLES
from lab.validate.lint import lint_manifest
from lab.validate.results import CheckResult, Finding, Outcome, Severity, judge, skipped

TITLES: dict[str, str] = {
    "bundle.format": "The image is a readable bundle with a manifest and a signature",
    "bundle.signature": "The manifest signature verifies with a trusted key",
    "manifest.schema": "The manifest passes the bundle library's validation (as gateways do)",
    "bundle.hashes": "Every payload matches the size and sha256 in the manifest",
    **LINT_TITLES,
}
STATIC_CHECKS: tuple[str, ...] = tuple(TITLES)


@dataclass(frozen=True)
class StaticOutcome:
    """Results in STATIC_CHECKS order; `manifest` is set only if the bundle may be installed."""

    results: tuple[CheckResult, ...]
    manifest: Manifest | None = None
    document: Mapping[str, Any] | None = None

    @property
    def installable(self) -> bool:
        return self.manifest is not None


def run_static_checks(source: str, trusted_keys: Sequence[Ed25519PublicKey],
                      matrix: Matrix | None, *, matrix_source: str = "the matrix",
                      ) -> StaticOutcome:
    """Check the bundle at `source` (path or http(s) URL).

    Never raises for a bad bundle: every problem becomes a failed result.
    With no trusted keys the signature check fails (unsigned content is
    never accepted).
    """
    started = time.monotonic()
    try:
        with open_bundle(source) as reader:
            document = _decode(reader.manifest_bytes)
            return _checks_on(reader, document, trusted_keys, matrix, matrix_source, started)
    except (BundleError, _NotAManifest) as exc:
        failed = judge("bundle.format", TITLES["bundle.format"],
                       [Finding("bundle.format", Severity.ERROR, f"{source}: {exc}")],
                       seconds=time.monotonic() - started)
        rest = [skipped(check, TITLES[check], "the image is not a readable bundle "
                        "(bundle.format failed)") for check in STATIC_CHECKS[1:]]
        return StaticOutcome((failed, *rest))


class _NotAManifest(Exception):
    """The manifest bytes are not a JSON object with a packages list."""


def _decode(manifest_bytes: bytes) -> Mapping[str, Any]:
    try:
        document = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _NotAManifest(f"manifest is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("packages"), list):
        raise _NotAManifest("manifest is not a JSON object with a 'packages' list")
    return document


def _checks_on(reader: BundleReader, document: Mapping[str, Any],
               trusted_keys: Sequence[Ed25519PublicKey], matrix: Matrix | None,
               matrix_source: str, started: float) -> StaticOutcome:
    format_ok = judge("bundle.format", TITLES["bundle.format"], [],
                      detail=f"{reader.size} bytes, {len(document['packages'])} packages",
                      seconds=time.monotonic() - started)
    signature = _signature(reader, trusted_keys)
    manifest: Manifest | None = None
    schema_findings = []
    try:
        manifest = Manifest.from_json(reader.manifest_bytes)
    except ManifestError as exc:
        schema_findings.append(Finding("manifest.schema", Severity.ERROR,
                                       f"gateways and BMCs will refuse this manifest: {exc}"))
    schema = judge("manifest.schema", TITLES["manifest.schema"], schema_findings)
    hashes = _hashes(reader, document, manifest)
    lint = lint_manifest(document, matrix, matrix_source)
    results = (format_ok, signature, schema, hashes, *lint)
    intact = all(r.outcome is Outcome.PASSED for r in (signature, schema, hashes))
    return StaticOutcome(results, manifest if intact else None, document)


def _signature(reader: BundleReader, trusted_keys: Sequence[Ed25519PublicKey]) -> CheckResult:
    title = TITLES["bundle.signature"]
    try:
        verify_manifest(reader.manifest_bytes, reader.signature, trusted_keys)
    except SignatureError as exc:
        return judge("bundle.signature", title,
                     [Finding("bundle.signature", Severity.ERROR, f"bad signature: {exc}")])
    except ManifestError:
        pass  # the signature verified; manifest.schema reports what is wrong inside
    return judge("bundle.signature", title, [], detail=f"{len(trusted_keys)} trusted key(s)")


def _hashes(reader: BundleReader, document: Mapping[str, Any],
            manifest: Manifest | None) -> CheckResult:
    """Hash every payload whose package entry is valid on its own."""
    started = time.monotonic()
    packages = list(manifest.packages) if manifest else _packages_one_by_one(document)
    findings = []
    checked = 0
    for pkg in packages:
        try:
            verify_payload(reader, pkg)
            checked += pkg.size
        except HashMismatchError as exc:
            findings.append(Finding("bundle.hashes", Severity.ERROR, str(exc), pkg.id))
        except BundleError as exc:
            findings.append(Finding("bundle.hashes", Severity.ERROR,
                                    f"payload of package '{pkg.id}' cannot be read: {exc}",
                                    pkg.id))
    if not packages:
        return skipped("bundle.hashes", TITLES["bundle.hashes"],
                       "no package entry is valid enough to locate its payload")
    return judge("bundle.hashes", TITLES["bundle.hashes"], findings,
                 detail=f"{len(packages)} payloads, {checked} bytes verified",
                 seconds=time.monotonic() - started)


def _packages_one_by_one(document: Mapping[str, Any]) -> list[Package]:
    """Validate each package entry alone (requires dropped) with the library's own rules.

    Used when the whole manifest is refused (e.g. a dependency cycle), so the
    payloads can still be checked; entries that are invalid alone are skipped
    (manifest.schema already failed).
    """
    packages = []
    for raw in document["packages"]:
        if not isinstance(raw, dict):
            continue
        alone = {"schema_version": document.get("schema_version"), "bundle_id": "lint",
                 "release": "lint", "publisher": "lint", "packages": [{**raw, "requires": []}]}
        try:
            packages.append(Manifest.from_dict(alone).packages[0])
        except ManifestError:
            continue
    return packages
