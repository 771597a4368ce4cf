"""`fleetflash validate` end to end: exit codes, terminal summary, JUnit and HTML read back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lab.cli import main
from lab.validate import STATIC_CHECKS, load_matrix
from lab.validate.dynamic import DYNAMIC_CHECKS
from tests.conftest import REPO_ROOT, TestKeys
from tests.integration.validate.conftest import REDUCED_MATRIX

COMBINATIONS = [c.key for c in load_matrix().combinations()]


class Html(HTMLParser):
    """Rows of the table with id "matrix" as (text, class) cells; text of each failure section."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, str]]] = []
        self.failures: list[str] = []
        self.verdict = ""
        self._in_matrix = self._in_verdict = False
        self._cell: tuple[list[str], str] | None = None
        self._section: list[str] | None = None
        self.external: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.external += [v for k, v in values.items() if k in ("src", "href")
                          and not v.startswith("#")]
        if tag == "table":
            self._in_matrix = values.get("id") == "matrix"
        elif tag == "tr" and self._in_matrix:
            self.rows.append([])
        elif tag in ("td", "th") and self._in_matrix:
            self._cell = ([], values.get("class", ""))
        elif tag == "section" and "failure" in values.get("class", ""):
            self._section = []
        elif values.get("id") == "verdict":
            self._in_verdict = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_matrix = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(("".join(self._cell[0]).strip(), self._cell[1]))
            self._cell = None
        elif tag == "section" and self._section is not None:
            self.failures.append("".join(self._section))
            self._section = None
        elif tag == "p":
            self._in_verdict = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[0].append(data)
        if self._section is not None:
            self._section.append(data)
        if self._in_verdict:
            self.verdict += data


def run(*args: object) -> Result:
    return CliRunner().invoke(main, ["validate", *(str(a) for a in args)])


def test_the_sample_bundle_passes_the_full_matrix(sample_bundle: Path, test_keys: TestKeys,
                                                   tmp_path: Path) -> None:
    junit, html = tmp_path / "validate.xml", tmp_path / "validate.html"
    outcome = run(sample_bundle, "--trusted-key", test_keys.public, "--jobs", 4,
                  "--junit", junit, "--html", html)
    assert outcome.exit_code == 0, outcome.output
    assert "PASSED: " in outcome.output and "FAIL" not in outcome.output

    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0"
    assert int(root.get("tests", "0")) == len(STATIC_CHECKS) + len(DYNAMIC_CHECKS) * 21
    suites = {suite.get("name"): suite for suite in root}
    assert list(suites) == ["static", *COMBINATIONS] and len(COMBINATIONS) == 21
    for key in COMBINATIONS:
        cases = suites[key].findall("testcase")
        assert [c.get("name") for c in cases] == list(DYNAMIC_CHECKS)
        assert all(c.get("classname") == key for c in cases)
        skips = [c.get("name") for c in cases if c.find("skipped") is not None]
        # the model outside the bundle is only installed (and must stay untouched)
        assert skips == (list(DYNAMIC_CHECKS[1:]) if key.startswith("FF-1U-R350/") else [])

    page = Html(html.read_text())
    assert page.verdict == "PASSED" and page.failures == [] and page.external == []
    header, *rows = page.rows
    assert [text for text, _ in header][3:] == list(DYNAMIC_CHECKS)
    assert ["/".join(text for text, _ in row[:3]) for row in rows] == COMBINATIONS
    for row in rows:
        classes = [cls for _, cls in row[3:]]
        expected = ["passed"] + ["skipped" if row[0][0] == "FF-1U-R350" else "passed"] * 4
        assert classes == expected


CAUGHT = [
    # (spec, faults file text, check, testcase classname, text the failure must contain)
    ("wrong-model", None, "lint.models_in_matrix", "static",
     "package 'nic-bcm57414-22.31.6' names model 'FF-2U-R570', which is not in"),
    ("missing-dependency", None, "lint.dependencies_resolve", "static",
     "package 'bios-r450-1.18.0' requires 'bmc-r-2.10.4', which is not in the bundle"),
    ("dependency-cycle", None, "lint.dependency_cycles", "static",
     "dependency cycle: bios-x900-4.1.0 -> bmc-x-3.2.1 -> nic-cx6-28.39.1002 -> "
     "bios-x900-4.1.0"),
    ("version-regression", None, "dynamic.install", "FF-1U-R450/previous/simple_update",
     "version regression: package 'bios-r450-1.15.0' brings BIOS 1.15.0, lower than the "
     "1.16.0 installed"),
    ("bad-signature", None, "bundle.signature", "static", "bad signature: "),
    # bad-signature.yaml is a valid spec: built with the trusted key below, it installs,
    # except where the emulator is told its BIOS flash fails.
    ("payload-fails-on-one-model",
     "faults:\n  - {model: FF-1U-R450, kind: flash_fails, component: BIOS}\n",
     "dynamic.install", "FF-1U-R450/previous/simple_update",
     "BIOS: expected 1.18.0, got 1.16.0"),
]


@pytest.mark.parametrize(("name", "faults", "check", "where", "text"), CAUGHT,
                         ids=[row[0] for row in CAUGHT])
def test_each_broken_bundle_is_caught_with_its_own_message(
        spec_bundle: Callable[[str], Path], reduced_matrix: Path, test_keys: TestKeys,
        tmp_path: Path, name: str, faults: str | None, check: str, where: str,
        text: str) -> None:
    spec = "bad-signature-trusted" if faults else name
    bundle = spec_bundle(spec)
    junit, html = tmp_path / "r.xml", tmp_path / "r.html"
    extra: list[object] = []
    if faults:
        (tmp_path / "faults.yaml").write_text(faults)
        extra = ["--faults", tmp_path / "faults.yaml"]
    outcome = run(bundle, "--trusted-key", test_keys.public, "--matrix", reduced_matrix,
                  "--junit", junit, "--html", html, *extra)
    assert outcome.exit_code == 1, outcome.output
    suffix = "" if where == "static" else f" on {where}"
    assert f"FAIL {check}{suffix}: " in outcome.output
    assert "Traceback" not in outcome.output

    cases = [case for suite in ET.parse(junit).getroot() for case in suite
             if case.get("name") == check and case.get("classname") == where]
    assert len(cases) == 1
    failure = cases[0].find("failure")
    assert failure is not None and text in (failure.text or "")

    page = Html(html.read_text())
    assert page.verdict == "FAILED"
    assert any(check in section and text in section for section in page.failures)


@pytest.mark.parametrize(("args", "message"), [
    (["--trusted-key", "{tmp}/missing.pub"], "error: trusted key {tmp}/missing.pub: "),
    (["--faults", "{tmp}/faults.yaml"], "faults[0].model: 'FF-9U' is not a model of the matrix"),
    (["--matrix", "{repo}/lab/topologies/demo.yaml"], "has no 'matrix:' section"),
    (["--junit", "{tmp}/missing-dir/r.xml", "--static-only"], "error: cannot write JUnit report"),
])
def test_when_the_harness_cannot_run_it_says_why_and_exits_2(
        sample_bundle: Path, test_keys: TestKeys, tmp_path: Path, args: list[str],
        message: str) -> None:
    (tmp_path / "faults.yaml").write_text("faults: [{model: FF-9U, kind: flash_fails}]\n")
    filled = [a.replace("{tmp}", str(tmp_path)).replace("{repo}", str(REPO_ROOT))
              for a in args]
    if "--trusted-key" not in filled:
        filled += ["--trusted-key", str(test_keys.public)]
    outcome = run(sample_bundle, *filled)
    assert outcome.exit_code == 2, outcome.output
    assert message.replace("{tmp}", str(tmp_path)) in outcome.output
    assert "Traceback" not in outcome.output


def test_static_only_installs_nothing(sample_bundle: Path, test_keys: TestKeys,
                                      tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    outcome = run(sample_bundle, "--trusted-key", test_keys.public, "--static-only",
                  "--junit", junit)
    assert outcome.exit_code == 0, outcome.output
    suites = [suite.get("name") for suite in ET.parse(junit).getroot()]
    assert suites == ["static"]


# The reduced matrix over virtual media only (where the families differ most), without
# the model outside the bundle.
MSC_MATRIX = "\n".join(
    line for line in REDUCED_MATRIX.replace("[simple_update]", "[msc]").splitlines()
    if "FF-1U-R350" not in line) + "\n"


def test_personalities_run_the_matrix_once_per_bmc_family_with_reports_each(
        sample_bundle: Path, test_keys: TestKeys, tmp_path: Path) -> None:
    matrix = tmp_path / "msc-matrix.yaml"
    matrix.write_text(MSC_MATRIX)
    junit, html = tmp_path / "v.xml", tmp_path / "v.html"
    outcome = run(sample_bundle, "--trusted-key", test_keys.public, "--matrix", matrix,
                  "--personalities", "idrac, xcc", "--junit", junit, "--html", html)
    assert outcome.exit_code == 0, outcome.output
    # Each run's BMCs presented that family (Dell's vmedia under Systems, Lenovo's
    # Inserted-only insert), and the bundle installed over virtual media on both.
    first, second = outcome.output.split("BMC personality xcc")
    assert "BMC personality idrac" in first and "(Dell Inc.)" in first
    assert "(Lenovo)" in second and "Dell" not in second
    assert not junit.exists() and not html.exists()
    for family in ("idrac", "xcc"):
        root = ET.parse(tmp_path / f"v-{family}.xml").getroot()
        assert root.get("name", "").endswith(f" on {family}")
        assert root.get("failures") == "0" and root.get("skipped") == "0"
        assert int(root.get("tests", "0")) == len(STATIC_CHECKS) + len(DYNAMIC_CHECKS) * 3
        page = Html((tmp_path / f"v-{family}.html").read_text())
        assert page.verdict == "PASSED" and page.failures == []


def test_an_unknown_personality_is_refused_in_one_line_before_anything_runs(
        sample_bundle: Path, test_keys: TestKeys, tmp_path: Path) -> None:
    junit = tmp_path / "v.xml"
    outcome = run(sample_bundle, "--trusted-key", test_keys.public, "--personalities",
                  "idrac,hp-ilo", "--junit", junit)
    assert outcome.exit_code == 2
    assert outcome.output.strip().splitlines() == [
        "error: --personalities: unknown personality 'hp-ilo'; known: all, dmtf, openbmc, "
        "idrac, ilo, xcc, supermicro"]
    assert list(tmp_path.iterdir()) == []
