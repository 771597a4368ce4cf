"""The vendor validation harness (docs/validation.md): prove a bundle before it ships.

Static checks (format, signature, hashes, manifest lint) are in `static`
and `lint`; results, and the slot for dynamic matrix checks, in `results`
and `harness`; report writers in `junit`, `html_report` and `terminal`.
The dynamic checks on the emulated matrix are `dynamic.MatrixChecks`
(`dynamic_*` modules), imported on demand: they start an emulator. The
command is `cli.validate`. See docs/validation.md.
"""

from lab.validate.errors import ValidateError
from lab.validate.harness import (
    DEFAULT_MATRIX,
    DynamicChecks,
    load_matrix,
    load_trusted_keys,
    run_validation,
)
from lab.validate.html_report import html_report, write_html
from lab.validate.junit import junit_xml, write_junit
from lab.validate.results import (
    CheckResult,
    CombinationKey,
    Finding,
    Outcome,
    Severity,
    ValidationReport,
)
from lab.validate.static import STATIC_CHECKS, run_static_checks

__all__ = [
    "DEFAULT_MATRIX",
    "STATIC_CHECKS",
    "CheckResult",
    "CombinationKey",
    "DynamicChecks",
    "Finding",
    "Outcome",
    "Severity",
    "ValidateError",
    "ValidationReport",
    "html_report",
    "junit_xml",
    "load_matrix",
    "load_trusted_keys",
    "run_static_checks",
    "run_validation",
    "write_html",
    "write_junit",
]
