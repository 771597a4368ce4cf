"""The validation run: static checks, then (when given) dynamic checks, one report.

Dynamic checks plug in through `DynamicChecks`: they receive the verified
manifest and the matrix combinations and return more `CheckResult`s, each
keyed by its `CombinationKey`. They only run on a bundle that passed the
format, signature, schema and hash checks: an unverified image is never
installed, even on emulated BMCs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware_payloads import BundleError, Manifest, load_public_key
from lab.topology import Matrix, TopologyError, load_topology
from lab.validate.errors import ValidateError
from lab.validate.results import CheckResult, CombinationKey, ValidationReport, skipped
from lab.validate.static import run_static_checks

DEFAULT_MATRIX = Path(__file__).resolve().parent.parent / "topologies" / "matrix.yaml"


class DynamicChecks(Protocol):
    """Installs the bundle on the emulated matrix (docs/validation.md, "Dynamic checks")."""

    #: Check ids this runner produces, for the "skipped" rows of a bundle it may not install.
    checks: Sequence[tuple[str, str]]  # (check id, title)

    def run(self, bundle: str, manifest: Manifest, matrix: Matrix) -> Iterable[CheckResult]:
        """Results for every check x combination; must not raise for a misbehaving bundle."""
        ...


def load_trusted_keys(paths: Iterable[str | Path]) -> list[Ed25519PublicKey]:
    """Load PEM Ed25519 public keys; ValidateError names the file that fails."""
    keys = []
    for path in paths:
        try:
            keys.append(load_public_key(Path(path)))
        except BundleError as exc:
            raise ValidateError(f"trusted key {path}: {exc}") from exc
    return keys


def load_matrix(path: str | Path = DEFAULT_MATRIX) -> Matrix:
    """The `matrix:` section of a topology file; ValidateError if absent or invalid."""
    try:
        topology = load_topology(path)
    except TopologyError as exc:
        raise ValidateError(f"matrix file is invalid:\n{exc}") from exc
    if topology.matrix is None:
        raise ValidateError(f"{path}: has no 'matrix:' section (see docs/lab.md)")
    return topology.matrix


def run_validation(bundle: str | Path, trusted_keys: Sequence[Ed25519PublicKey],
                   matrix: Matrix, *, matrix_source: str = "the matrix",
                   dynamic: DynamicChecks | None = None) -> ValidationReport:
    """Validate one bundle (path or URL) against `matrix`; never raises for a bad bundle."""
    started = time.monotonic()
    source = str(bundle)
    static = run_static_checks(source, trusted_keys, matrix, matrix_source=matrix_source)
    results = list(static.results)
    combinations = tuple(CombinationKey.of(c) for c in matrix.combinations())
    if dynamic is not None:
        if static.manifest is not None:
            results.extend(dynamic.run(source, static.manifest, matrix))
        else:
            reason = "not installed: the bundle failed its format, signature, schema or hash check"
            results.extend(skipped(check, title, reason, combination=combination)
                           for check, title in dynamic.checks for combination in combinations)
    document = static.document or {}
    return ValidationReport(
        bundle=source, results=tuple(results),
        bundle_id=str(document.get("bundle_id", "")), release=str(document.get("release", "")),
        matrix_source=matrix_source, seconds=time.monotonic() - started,
        combinations=combinations if dynamic is not None else (),
    )
