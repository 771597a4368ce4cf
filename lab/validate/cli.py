"""`fleetflash validate`: prove a bundle against the emulated matrix before it ships.

Exit status: 0 when every check passed, 1 when any check failed, 2 when
the harness could not run (unreadable key, matrix or faults file, a report
path that cannot be written). Reports are written before the exit either way.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from emulator.personalities import PERSONALITIES
from lab.topology import load_topology
from lab.validate.dynamic import DYNAMIC_CHECKS, MatrixChecks
from lab.validate.dynamic_faults import load_cell_faults
from lab.validate.errors import ValidateError
from lab.validate.harness import DEFAULT_MATRIX, load_matrix, load_trusted_keys, run_validation
from lab.validate.html_report import write_html
from lab.validate.junit import write_junit
from lab.validate.results import CheckResult, ValidationReport
from lab.validate.terminal import print_summary

EXIT_PASSED, EXIT_FAILED, EXIT_CANNOT_RUN = 0, 1, 2


@click.command("validate")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trusted-key", "trusted_keys", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="PEM Ed25519 public key the bundle must be signed with (repeatable). "
                   "Without one the signature check fails: unsigned content is never accepted.")
@click.option("--matrix", "matrix_path", default=str(DEFAULT_MATRIX), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Topology file whose 'matrix:' section lists models, starting points and "
                   "delivery methods.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a JUnit XML report here (one testcase per check and combination).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report here.")
@click.option("--jobs", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Scenarios run in parallel on the emulated matrix.")
@click.option("--faults", "faults_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of emulator faults to inject on matrix cells (docs/validation.md).")
@click.option("--static-only", is_flag=True,
              help="Run the static checks only; install nothing on the emulated matrix.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1.0), default=60.0,
              show_default=True, help="Seconds one step (a task, a restart) may take.")
@click.option("--personalities", "personalities_option", metavar="all|NAME[,NAME...]",
              help="Run the matrix once per BMC personality (emulator/personalities.py), "
                   "'all' for every one; reports get the personality in their file name "
                   "(validate.xml -> validate-idrac.xml).")
@click.option("-v", "--verbose", is_flag=True, help="Log what the emulator and client do.")
def validate(bundle: Path, trusted_keys: tuple[Path, ...], matrix_path: Path,
             junit_path: Path | None, html_path: Path | None, jobs: int,
             faults_path: Path | None, static_only: bool, timeout_s: float,
             personalities_option: str | None, verbose: bool) -> None:
    """Validate the update bundle BUNDLE (an ISO image) before it is published.

    Static checks (format, signature, hashes, manifest lint), then the bundle
    is installed on an emulated BMC for every model x starting point x delivery
    method of the matrix: end versions, re-apply, downgrade refusal, not
    applicable models, power loss and BMC restart during a flash.
    """
    _quiet_libraries(verbose)
    console = Console(stderr=False, highlight=False)
    passed = True
    try:
        for name in parse_personalities(personalities_option):
            if name is not None:
                console.rule(f"BMC personality {name}")
            report = replace(_run(bundle, trusted_keys, matrix_path, jobs, faults_path,
                                  static_only, timeout_s, console, name),
                             personality=name or "")
            print_summary(report, console)
            if junit_path is not None:
                write_junit(report, per_personality(junit_path, name))
                console.print(f"JUnit report: {per_personality(junit_path, name)}")
            if html_path is not None:
                write_html(report, per_personality(html_path, name))
                console.print(f"HTML report: {per_personality(html_path, name)}")
            passed = passed and report.passed
    except ValidateError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_CANNOT_RUN) from None
    raise SystemExit(EXIT_PASSED if passed else EXIT_FAILED)


def parse_personalities(option: str | None) -> list[str | None]:
    """The personalities to run the matrix on: [None] (the matrix as it is) without the
    option; ValidateError naming an unknown one."""
    if option is None:
        return [None]
    if option.strip() == "all":
        return list(PERSONALITIES)
    names = [name.strip() for name in option.split(",") if name.strip()]
    unknown = [name for name in names if name not in PERSONALITIES]
    if unknown or not names:
        raise ValidateError(f"--personalities: unknown personality "
                            f"{', '.join(map(repr, unknown)) or repr(option)}; known: all, "
                            f"{', '.join(PERSONALITIES)}")
    return list(dict.fromkeys(names))


def per_personality(path: Path, name: str | None) -> Path:
    """`path` for one personality's report: validate.xml -> validate-idrac.xml."""
    return path if name is None else path.with_name(f"{path.stem}-{name}{path.suffix}")


def _run(bundle: Path, key_paths: tuple[Path, ...], matrix_path: Path, jobs: int,
         faults_path: Path | None, static_only: bool, timeout_s: float,
         console: Console, personality: str | None) -> ValidationReport:
    keys = load_trusted_keys(key_paths)
    matrix = load_matrix(matrix_path)
    if static_only:
        return run_validation(bundle, keys, matrix, matrix_source=str(matrix_path))
    timings = load_topology(matrix_path).emulator  # valid: load_matrix read it already
    faults = load_cell_faults(faults_path, matrix) if faults_path is not None else ()
    total = len(DYNAMIC_CHECKS) * len(matrix.combinations())
    with Progress(TextColumn("installing on the emulated matrix"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("matrix", total=total)

        def advance(_result: CheckResult) -> None:
            progress.advance(task)

        dynamic = MatrixChecks(keys, jobs=jobs, timings=timings, faults=faults,
                               timeout_s=timeout_s, on_result=advance,
                               personality=personality)
        report = run_validation(bundle, keys, matrix, matrix_source=str(matrix_path),
                                dynamic=dynamic)
    if dynamic.bmcs_started:
        console.print(f"Emulated {dynamic.bmcs_started} BMCs "
                      f"({', '.join(dynamic.manufacturers)}) for {len(matrix.combinations())} "
                      f"matrix cells with {jobs} job(s); they read "
                      f"{dynamic.bytes_served / 1e6:.1f} MB of the bundle from the media server.")
    return report


def _quiet_libraries(verbose: bool) -> None:
    """Failures are in the report; library chatter (sushy's session clean-up after a
    BMC restart, the emulator's own notes) would only bury it."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        for name in ("sushy", "emulator", "gateway"):
            logging.getLogger(name).setLevel(logging.ERROR)
