"""libvirt only where it is needed: the package's own metadata (as pip reads it)
requires libvirt-python only with the `lab` extra; without libvirt the gateway's
commands work and `emulator`, `lab` and `validate` say in one line what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# Run the console script in an interpreter where `import libvirt` fails, as on a
# gateway host that installed plain `fleetflash`.
WITHOUT_LIBVIRT = ("import sys; sys.modules['libvirt'] = None; from lab.cli import main; "
                   "sys.argv[0] = 'fleetflash'; main()")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_LIBVIRT, *args], cwd=REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, timeout=120)


def test_package_metadata_requires_libvirt_only_for_the_lab_extra(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index",
         "--no-build-isolation", "--quiet", "--report", str(report), str(REPO_ROOT)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [project] = json.loads(report.read_text())["install"]
    requires = project["metadata"]["requires_dist"]
    libvirt = [r for r in requires if r.startswith("libvirt")]
    assert libvirt == ['libvirt-python>=9.0; extra == "lab"'], requires


@pytest.mark.parametrize("group", ["emulator", "lab", "validate"])
def test_lab_commands_say_what_to_install(group: str) -> None:
    done = _run(group, "start", "--whatever")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [f"Error: fleetflash {group} needs the lab extra: pip install "
                     "'fleetflash[lab]' (libvirt-python; on Debian first: apt-get install "
                     "libvirt-dev pkg-config gcc python3-dev)"], done.stderr


def test_gateway_commands_work_without_libvirt(tmp_path: Path) -> None:
    done = _run("gateway", "init", str(tmp_path / "gw"))
    assert done.returncode == 0, done.stderr
    doctor = _run("doctor", "--config", str(tmp_path / "gw" / "gateway.toml"))
    assert "config:" in doctor.stdout and "Traceback" not in doctor.stderr
    assert _run("bmcs", "list", "--config", str(tmp_path / "gw" / "gateway.toml")
                ).returncode == 0
    listing = _run("--help")
    assert listing.returncode == 0 and "emulator" in listing.stdout


def test_everything_serve_imports_loads_without_libvirt() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['libvirt'] = None; "
         "import gateway.service, gateway.cli, gateway.onboarding.doctor; print('ok')"],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
