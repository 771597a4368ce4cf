"""A self-contained HTML report: summary, static checks, matrix table, failure details.

One file, inline CSS, no scripts, images, fonts or links to anything outside
it, so it can be attached to a release ticket or opened offline. Every value
from the bundle is escaped (a manifest is untrusted input).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from lab.validate.errors import ValidateError
from lab.validate.results import CheckResult, CombinationKey, Outcome, ValidationReport

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1d232a; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #c9d1d9; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f3f6; }
.passed { background: #d7f5dd; } .failed { background: #ffd8d3; } .skipped { background: #eceff1; }
.verdict { display: inline-block; padding: 0.2em 0.8em; font-weight: bold; border-radius: 4px; }
.failure { border-left: 4px solid #d1242f; padding-left: 1em; margin: 1em 0; }
.warning { color: #7d4e00; }
code { font-size: 0.95em; }
"""


def html_report(report: ValidationReport) -> str:
    """The report as one HTML document (str)."""
    verdict = "passed" if report.passed else "failed"
    title = f"Validation of {report.bundle_id or report.bundle}" + (
        f" on {report.personality}" if report.personality else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p id="verdict" class="verdict {verdict}">{verdict.upper()}</p>',
        _summary(report),
        "<h2>Static checks</h2>",
        _static_table(report),
        "<h2>Matrix</h2>",
        _matrix_table(report),
        "<h2>Failures</h2>",
        _failures(report),
        _warnings(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(report: ValidationReport, path: str | Path) -> None:
    """Write html_report(report) to `path`; ValidateError if it cannot be written."""
    try:
        Path(path).write_text(html_report(report), encoding="utf-8")
    except OSError as exc:
        raise ValidateError(f"cannot write HTML report {path}: {exc.strerror}") from exc


def _summary(report: ValidationReport) -> str:
    counts = report.counts()
    rows = [
        ("Bundle", report.bundle), ("Bundle id", report.bundle_id), ("Release", report.release),
        ("Matrix", report.matrix_source),
        *([("BMC personality", report.personality)] if report.personality else []),
        ("Checks", f"{len(report.results)} run: {counts[Outcome.PASSED]} passed, "
                   f"{counts[Outcome.FAILED]} failed, {counts[Outcome.SKIPPED]} skipped"),
        ("Warnings", str(sum(len(r.warnings) for r in report.results))),
        ("Wall time", f"{report.seconds:.1f} s"),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table id="summary">{body}</table>'


def _anchor(report: ValidationReport, result: CheckResult) -> str:
    failed = [r for r in report.results if r.outcome is Outcome.FAILED]
    return f"failure-{failed.index(result) + 1}"


def _cell(report: ValidationReport, result: CheckResult | None) -> str:
    if result is None:
        return '<td class="skipped">not run</td>'
    text = escape(result.outcome.value)
    if result.outcome is Outcome.FAILED:
        text = f'<a href="#{_anchor(report, result)}">{text}</a>'
    tip = escape(result.detail or "; ".join(f.message for f in result.findings), quote=True)
    return f'<td class="{result.outcome.value}" title="{tip}">{text}</td>'


def _static_table(report: ValidationReport) -> str:
    rows = ["<tr><th>Check</th><th>What it proves</th><th>Result</th><th>Notes</th></tr>"]
    for result in report.static_results:
        notes = result.detail
        if result.findings:
            notes = f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
        rows.append(f"<tr><td><code>{escape(result.check)}</code></td>"
                    f"<td>{escape(result.title)}</td>{_cell(report, result)}"
                    f"<td>{escape(notes)}</td></tr>")
    return f'<table id="static-checks">{"".join(rows)}</table>'


def _matrix_table(report: ValidationReport) -> str:
    checks = report.dynamic_checks
    if not checks:
        return ('<p id="matrix-note">No dynamic checks ran: the bundle was not installed on '
                "the emulated matrix.</p>")
    combinations: list[CombinationKey] = list(report.combinations) or sorted(
        {r.combination for r in report.dynamic_results if r.combination is not None})
    head = "".join(f"<th><code>{escape(check)}</code></th>" for check in checks)
    rows = [f"<tr><th>Model</th><th>Starting point</th><th>Delivery</th>{head}</tr>"]
    for combination in combinations:
        cells = "".join(_cell(report, report.result_for(check, combination)) for check in checks)
        rows.append(f"<tr><td>{escape(combination.model)}</td><td>{escape(combination.starting)}"
                    f"</td><td>{escape(combination.delivery)}</td>{cells}</tr>")
    return f'<table id="matrix">{"".join(rows)}</table>'


def _failures(report: ValidationReport) -> str:
    failed = [r for r in report.results if r.outcome is Outcome.FAILED]
    if not failed:
        return '<p id="no-failures">Nothing failed.</p>'
    sections = []
    for result in failed:
        where = f" on {result.combination.key}" if result.combination else ""
        items = "".join(
            f"<li>{'<code>' + escape(f.package) + '</code>: ' if f.package else ''}"
            f"{escape(f.message)}</li>" for f in result.errors)
        sections.append(
            f'<section class="failure" id="{_anchor(report, result)}">'
            f"<h3><code>{escape(result.check)}</code>{escape(where)}</h3>"
            f"<p>{escape(result.title)}</p><ul>{items}</ul></section>")
    return "".join(sections)


def _warnings(report: ValidationReport) -> str:
    warnings = [f for r in report.results for f in r.warnings]
    if not warnings:
        return ""
    items = "".join(f'<li class="warning"><code>{escape(f.check)}</code>: {escape(f.message)}'
                    "</li>" for f in warnings)
    return f'<h2>Warnings</h2><ul id="warnings">{items}</ul>'
