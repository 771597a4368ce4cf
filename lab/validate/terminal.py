"""A rich summary of a validation report for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from lab.validate.results import Outcome, ValidationReport

STYLES = {Outcome.PASSED: "green", Outcome.FAILED: "bold red", Outcome.SKIPPED: "dim"}


def print_summary(report: ValidationReport, console: Console) -> None:
    """Static checks, the matrix (if dynamic checks ran), every failure, the verdict."""
    static = Table(title=f"Static checks of {report.bundle_id or report.bundle}")
    static.add_column("check")
    static.add_column("result")
    static.add_column("notes")
    for result in report.static_results:
        notes = "; ".join(f.message for f in result.findings) if result.findings \
            else result.detail
        static.add_row(result.check, f"[{STYLES[result.outcome]}]{result.outcome}[/]", notes)
    console.print(static)
    checks = report.dynamic_checks
    if checks:
        matrix = Table(title="Matrix")
        matrix.add_column("combination", no_wrap=True)
        for check in checks:  # "dynamic." on every column only costs width
            matrix.add_column(check.removeprefix("dynamic."))
        for combination in report.combinations:
            cells = []
            for check in checks:
                cell = report.result_for(check, combination)
                outcome = cell.outcome if cell else Outcome.SKIPPED
                cells.append(f"[{STYLES[outcome]}]{outcome}[/]")
            matrix.add_row(combination.key, *cells)
        console.print(matrix)
    for result in report.results:
        if result.outcome is Outcome.FAILED:
            where = f" on {result.combination.key}" if result.combination else ""
            for finding in result.errors:
                console.print(f"[bold red]FAIL[/] {result.check}{where}: {finding.message}",
                              markup=True, highlight=False)
    counts = report.counts()
    verdict = "[bold green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(f"{verdict}: {counts[Outcome.PASSED]} passed, {counts[Outcome.FAILED]} "
                  f"failed, {counts[Outcome.SKIPPED]} skipped in {report.seconds:.1f} s")
