"""JUnit XML: one testcase per check (static) and per check x combination (dynamic).

Static checks form the testsuite "static" (classname "static"); dynamic
results form one testsuite per combination, classname its key
("FF-1U-R450/previous/msc"), so CI systems group the matrix by cell.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from lab.validate.errors import ValidateError
from lab.validate.results import CheckResult, Outcome, ValidationReport


def junit_xml(report: ValidationReport) -> bytes:
    """The report as a UTF-8 JUnit XML document."""
    name = f"fleetflash validate {report.bundle_id or report.bundle}"
    root = ET.Element("testsuites", name=name + (f" on {report.personality}"
                                                 if report.personality else ""))
    suites: dict[str, list[CheckResult]] = {"static": list(report.static_results)}
    for result in report.dynamic_results:
        assert result.combination is not None
        suites.setdefault(result.combination.key, []).append(result)
    for suite_name, results in suites.items():
        if results:
            root.append(_suite(suite_name, results))
    _count(root, report.results)
    root.set("time", f"{report.seconds:.3f}")
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def write_junit(report: ValidationReport, path: str | Path) -> None:
    """Write junit_xml(report) to `path`; ValidateError if it cannot be written."""
    try:
        Path(path).write_bytes(junit_xml(report))
    except OSError as exc:
        raise ValidateError(f"cannot write JUnit report {path}: {exc.strerror}") from exc


def _suite(name: str, results: list[CheckResult]) -> ET.Element:
    suite = ET.Element("testsuite", name=name)
    _count(suite, results)
    suite.set("time", f"{sum(r.seconds for r in results):.3f}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=name, name=result.check,
                             time=f"{result.seconds:.3f}")
        if result.outcome is Outcome.FAILED:
            errors = result.errors
            failure = ET.SubElement(case, "failure", type=result.check,
                                    message=errors[0].message if errors else result.title)
            failure.text = "\n".join(f.message for f in errors)
        elif result.outcome is Outcome.SKIPPED:
            ET.SubElement(case, "skipped", message=result.detail)
        out = [result.title]
        if result.detail and result.outcome is not Outcome.SKIPPED:
            out.append(result.detail)
        out += [f"warning: {f.message}" for f in result.warnings]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    return suite


def _count(element: ET.Element, results: tuple[CheckResult, ...] | list[CheckResult]) -> None:
    element.set("tests", str(len(results)))
    element.set("failures", str(sum(r.outcome is Outcome.FAILED for r in results)))
    element.set("errors", "0")
    element.set("skipped", str(sum(r.outcome is Outcome.SKIPPED for r in results)))
