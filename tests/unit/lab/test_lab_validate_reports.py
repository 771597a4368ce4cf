"""JUnit and HTML reports, read back with xml.etree and html.parser."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.validate import (
    CheckResult,
    CombinationKey,
    Finding,
    Outcome,
    Severity,
    ValidateError,
    ValidationReport,
    html_report,
    junit_xml,
    load_matrix,
    run_validation,
    write_html,
    write_junit,
)
from lab.validate.results import judge
from tests.conftest import TestKeys

MATRIX = load_matrix()
COMBINATIONS = tuple(CombinationKey.of(c) for c in MATRIX.combinations())
BROKEN_CELL = CombinationKey("FF-4U-X900", "previous", "msc")


class Page(HTMLParser):
    """Collects tables (by id) as rows of (text, class) cells, plus every URL attribute."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.ids: dict[str, str] = {}  # element id -> its text
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._cell_class = ""
        self._open: list[tuple[str, str, list[str]]] = []  # (tag, id, text) of open elements
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.urls += [v for k, v in values.items() if k in ("src", "href", "action")]
        if tag == "table":
            self._table = values.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell, self._cell_class = [], values.get("class", "")
        if tag not in ("meta", "br", "img", "link", "input"):  # void elements never close
            self._open.append((tag, values.get("id", ""), []))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(("".join(self._cell).strip(), self._cell_class))
            self._cell = None
        elif tag == "table":
            self._table = None
        while self._open:
            open_tag, element_id, text = self._open.pop()
            if element_id:
                self.ids[element_id] = "".join(text)
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, _, text in self._open:
            text.append(data)


def with_dynamic(report: ValidationReport) -> ValidationReport:
    """The static report plus the kind of results the emulator matrix run will add."""
    dynamic = []
    for combination in COMBINATIONS:
        findings = []
        if combination == BROKEN_CELL:
            findings.append(Finding("dynamic.end_versions", Severity.ERROR,
                                    "BIOS is 3.9.0 after the update, manifest promises 4.1.0",
                                    "bios-x900-4.1.0"))
        dynamic.append(judge("dynamic.end_versions", "End versions match the manifest",
                             findings, combination=combination, seconds=0.5))
        dynamic.append(judge("dynamic.reapply_noop", "Re-applying is a no-op", [],
                             combination=combination, seconds=0.25))
    return ValidationReport(report.bundle, report.results + tuple(dynamic), report.bundle_id,
                            report.release, report.matrix_source, 12.5, COMBINATIONS)


@pytest.fixture(scope="module")
def good_report(sample_bundle: Path, test_keys: TestKeys) -> ValidationReport:
    return run_validation(sample_bundle, [test_keys.public_key()], MATRIX,
                          matrix_source="lab/topologies/matrix.yaml")


def test_junit_has_one_testcase_per_static_check(good_report: ValidationReport) -> None:
    root = ET.fromstring(junit_xml(good_report))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("12", "0", "0")
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [r.check for r in good_report.results]
    assert all(case.find("failure") is None for case in cases)


def test_junit_has_one_testcase_per_check_and_combination(good_report: ValidationReport,
                                                          ) -> None:
    root = ET.fromstring(junit_xml(with_dynamic(good_report)))
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert set(suites) == {"static"} | {c.key for c in COMBINATIONS}
    assert root.get("tests") == str(12 + 2 * len(COMBINATIONS))
    assert root.get("failures") == "1"
    cell = suites[BROKEN_CELL.key]
    assert cell.get("failures") == "1"
    failing = [case for case in cell.findall("testcase") if case.find("failure") is not None]
    assert [case.get("name") for case in failing] == ["dynamic.end_versions"]
    assert failing[0].get("classname") == "FF-4U-X900/previous/msc"
    failure = failing[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "BIOS is 3.9.0 after the update, manifest promises 4.1.0"


def test_junit_marks_failures_and_skips_of_a_broken_bundle(
        broken_bundle: Callable[[str, Ed25519PrivateKey], Path], test_keys: TestKeys,
        tmp_path: Path) -> None:
    report = run_validation(broken_bundle("dependency-cycle", test_keys.private_key()),
                            [test_keys.public_key()], MATRIX)
    out = tmp_path / "report.xml"
    write_junit(report, out)
    root = ET.parse(out).getroot()
    failures = {case.get("name"): case.find("failure") for case in root.iter("testcase")
                if case.find("failure") is not None}
    assert set(failures) == {"manifest.schema", "lint.dependency_cycles"}
    cycle = failures["lint.dependency_cycles"]
    assert cycle is not None and (cycle.text or "").startswith("dependency cycle: ")


def test_html_report_of_a_good_bundle(good_report: ValidationReport) -> None:
    page = Page(html_report(good_report))
    assert page.ids["verdict"] == "PASSED"
    summary = dict((row[0][0], row[1][0]) for row in page.tables["summary"])
    assert summary["Bundle id"] == "fleetflash-2026q4"
    assert summary["Checks"] == "12 run: 12 passed, 0 failed, 0 skipped"
    rows = page.tables["static-checks"][1:]
    assert [row[0][0] for row in rows] == [r.check for r in good_report.results]
    assert {row[2] for row in rows} == {("passed", "passed")}
    assert page.ids["no-failures"] == "Nothing failed."
    assert "matrix" not in page.tables and "No dynamic checks ran" in page.ids["matrix-note"]


def test_html_matrix_is_coloured_and_links_to_failure_details(good_report: ValidationReport,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    write_html(with_dynamic(good_report), out)
    page = Page(out.read_text(encoding="utf-8"))
    assert page.ids["verdict"] == "FAILED"
    header, *rows = page.tables["matrix"]
    assert [cell[0] for cell in header] == ["Model", "Starting point", "Delivery",
                                            "dynamic.end_versions", "dynamic.reapply_noop"]
    assert len(rows) == len(COMBINATIONS)
    cells = {(row[0][0], row[1][0], row[2][0]): [cell[1] for cell in row[3:]] for row in rows}
    assert cells[("FF-4U-X900", "previous", "msc")] == ["failed", "passed"]
    assert sum(classes.count("failed") for classes in cells.values()) == 1
    assert page.urls == ["#failure-1"]  # the only link, and it stays inside the page
    detail = page.ids["failure-1"]
    assert "dynamic.end_versions on FF-4U-X900/previous/msc" in detail
    assert "bios-x900-4.1.0: BIOS is 3.9.0 after the update, manifest promises 4.1.0" in detail


def test_html_is_self_contained_and_escapes_bundle_text(good_report: ValidationReport) -> None:
    hostile = ValidationReport(
        bundle="<img src=http://evil/x>", bundle_id="<script>alert(1)</script>",
        release="r", results=(CheckResult(
            "lint.models_in_matrix", "Models", Outcome.FAILED,
            (Finding("lint.models_in_matrix", Severity.ERROR,
                     "package '<b>x</b>' names model '<i>'", "<b>x</b>"),)),))
    text = html_report(hostile)
    page = Page(text)
    assert set(page.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2",
                              "h3", "p", "table", "tr", "th", "td", "code", "a", "section",
                              "ul", "li"}
    assert "script" not in page.tags and "img" not in page.tags and "link" not in page.tags
    assert page.urls == ["#failure-1"]
    assert "package '<b>x</b>' names model '<i>'" in page.ids["failure-1"]


def test_unwritable_report_path_is_a_clear_error(good_report: ValidationReport,
                                                 tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "r.html"
    with pytest.raises(ValidateError, match=r"^cannot write HTML report .*r\.html: "):
        write_html(good_report, target)
    with pytest.raises(ValidateError, match=r"^cannot write JUnit report "):
        write_junit(good_report, tmp_path / "missing-dir" / "r.xml")


def test_terminal_summary_names_each_failure(
        broken_bundle: Callable[[str, Ed25519PrivateKey], Path], test_keys: TestKeys) -> None:
    from rich.console import Console

    from lab.validate.terminal import print_summary

    report = run_validation(broken_bundle("wrong-model", test_keys.private_key()),
                            [test_keys.public_key()], MATRIX)
    console = Console(record=True, width=300, color_system=None)
    print_summary(with_dynamic(report), console)
    text = console.export_text()
    assert "FAIL lint.models_in_matrix: package 'nic-bcm57414-22.31.6' names model " \
           "'FF-2U-R570'" in text
    assert "FAIL dynamic.end_versions on FF-4U-X900/previous/msc: BIOS is 3.9.0" in text
    assert text.rstrip().splitlines()[-1].startswith(
        f"FAILED: {10 + 2 * len(COMBINATIONS) } passed, 2 failed, 0 skipped")


def test_the_documented_check_table_matches_the_code() -> None:
    from lab.validate import STATIC_CHECKS

    doc = (Path(__file__).resolve().parents[3] / "docs/validation.md").read_text()
    table = doc.split("## Static checks", 1)[1].split("\n\n", 3)[2]
    documented = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert documented == list(STATIC_CHECKS)
