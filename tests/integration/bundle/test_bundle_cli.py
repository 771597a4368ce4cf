"""The `fleetflash bundle` commands end to end: round trip, tampering, every bad input."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from firmware_payloads.cli import bundle

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_SPEC = REPO_ROOT / "firmware_payloads" / "samples" / "quarterly-2026q4.yaml"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(bundle, [str(a) for a in args])


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Exit status 1, one `error: ...` line on stderr naming the problem, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert isinstance(result.exception, SystemExit)


def test_round_trip_keygen_build_inspect_verify(tmp_path: Path, http_bundle_server) -> None:
    keys = tmp_path / "keys"
    result = run("keygen", "--out", keys)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE((keys / "bundle-signing.key").stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in result.stdout_bytes  # the key is never printed

    image = tmp_path / "out" / "q4.iso"
    image.parent.mkdir()
    result = run("build", SAMPLE_SPEC, "--key", keys / "bundle-signing.key", "-o", image)
    assert result.exit_code == 0, result.stderr
    assert "7 packages" in result.stdout and image.is_file()

    result = run("inspect", image)
    assert result.exit_code == 0, result.stderr
    for text in ("fleetflash-2026q4", "bios-x900-4.1.0", "FF-2U-R750", "3.2.1-b17", "NOT verified"):
        assert text in result.stdout

    served = http_bundle_server(image.parent)
    result = run("inspect", served.url(image.name))
    assert result.exit_code == 0, result.stderr
    assert "nic-cx6-28.39.1002" in result.stdout
    assert served.bytes_sent < 1_000_000

    result = run("verify", image, "--trusted-key", keys / "bundle-signing.pub")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("payload ok:") == 7

    result = run("verify", served.url(image.name), "--trusted-key", keys / "bundle-signing.pub")
    assert result.exit_code == 0, result.stderr
    assert "verified" in result.stdout


def test_verify_accepts_any_of_several_trusted_keys(bundle_factory, test_keys) -> None:
    image = bundle_factory()
    result = run("verify", image, "--trusted-key", test_keys.other_public,
                 "--trusted-key", test_keys.public)
    assert result.exit_code == 0, result.stderr


def signed_hook(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], Any]:
    def hook(doc: dict[str, Any]) -> dict[str, Any]:
        change(doc)
        return doc
    return hook


BAD_INPUTS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("truncated ISO", {"truncate_to": 40_000}, ("is truncated", "declares")),
    ("manifest tampered after signing",
     {"tamper_manifest": lambda b: b.replace(b'"7.1"', b'"7.2"')},
     ("does not verify", "modified after signing")),
    ("payload hash mismatch", {"payload_overrides": {"bmc-2.0.0": b"\x01" * 12_000}},
     ("bmc-2.0.0", "sha256")),
    ("traversal path",
     {"manifest_hook": signed_hook(lambda d: d["packages"][1].update(path="../../etc/shadow"))},
     ("bios-1.5.0", "escapes the bundle")),
    ("oversized manifest",
     {"manifest_hook": signed_hook(lambda d: d.update(release="r" * 1_100_000))},
     ("manifest is", "over the 1048576 byte limit")),
    ("unknown schema version",
     {"manifest_hook": signed_hook(lambda d: d.update(schema_version=7))},
     ("unknown manifest schema_version 7",)),
]


@pytest.mark.parametrize(("description", "hooks", "fragments"), BAD_INPUTS,
                         ids=[row[0] for row in BAD_INPUTS])
def test_verify_bad_input(bundle_factory, test_keys, description: str, hooks: dict[str, Any],
                          fragments: tuple[str, ...]) -> None:
    image = bundle_factory(**hooks)
    assert_one_line_error(run("verify", image, "--trusted-key", test_keys.public), *fragments)


def test_verify_with_wrong_key(bundle_factory, test_keys) -> None:
    image = bundle_factory()
    result = run("verify", image, "--trusted-key", test_keys.other_public)
    assert_one_line_error(result, "does not verify with any trusted key")


def test_inspect_truncated_iso(bundle_factory) -> None:
    assert_one_line_error(run("inspect", bundle_factory(truncate_to=30_000)), "is truncated")


def test_url_without_range_support_falls_back_then_caps(
    bundle_factory, test_keys, http_bundle_server_no_range
) -> None:
    image = bundle_factory()
    served = http_bundle_server_no_range(image.parent)
    result = run("verify", served.url(image.name), "--trusted-key", test_keys.public)
    assert result.exit_code == 0, result.stderr  # streamed read within the default cap
    result = run("inspect", served.url(image.name), "--max-stream-bytes", "20000")
    assert_one_line_error(result, "ignores HTTP Range", "20000 byte streaming cap")


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    assert run("keygen", "--out", tmp_path).exit_code == 0
    before = (tmp_path / "bundle-signing.key").read_bytes()
    assert_one_line_error(run("keygen", "--out", tmp_path), "refusing to overwrite")
    assert (tmp_path / "bundle-signing.key").read_bytes() == before


def write_spec(tmp_path: Path, **package_changes: Any) -> Path:
    payload = tmp_path / "blobs" / "bmc.bin"
    payload.parent.mkdir(exist_ok=True)
    payload.write_bytes(b"firmware" * 100)
    package = {"id": "bmc-1", "component": "BMC", "version": "1.10", "models": ["M"],
               "reset": "bmc", "path": "payloads/bmc.bin", "file": "blobs/bmc.bin"}
    package.update(package_changes)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"bundle_id": "b", "release": "r", "publisher": "p",
                                    "packages": [package]}))
    return spec


def test_build_reads_payload_files_relative_to_the_spec(tmp_path: Path, test_keys) -> None:
    spec = write_spec(tmp_path)
    out = tmp_path / "b.iso"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        result = run("build", spec, "--key", test_keys.private, "-o", out)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.stderr
    assert run("verify", out, "--trusted-key", test_keys.public).exit_code == 0


@pytest.mark.parametrize(
    ("description", "changes", "fragments"),
    [
        ("traversal path in spec", {"path": "../outside.bin"}, ("escapes the bundle",)),
        ("reserved directory", {"path": "fleetflash/manifest.json"}, ("reserved",)),
        ("missing payload file", {"file": "blobs/absent.bin"}, ("cannot read payload file",)),
        ("unquoted float version", {"version": 1.10}, ("must be a quoted string",)),
        ("unknown reset", {"reset": "reboot"}, ("'reset' must be one of",)),
    ],
)
def test_build_bad_spec_writes_nothing(tmp_path: Path, test_keys, description: str,
                                       changes: dict[str, Any],
                                       fragments: tuple[str, ...]) -> None:
    out = tmp_path / "b.iso"
    result = run("build", write_spec(tmp_path, **changes), "--key", test_keys.private, "-o", out)
    assert_one_line_error(result, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs", "spec.yaml"]


def test_build_with_a_public_key_as_private_key(tmp_path: Path, test_keys) -> None:
    result = run("build", write_spec(tmp_path), "--key", test_keys.public, "-o", tmp_path / "x")
    assert_one_line_error(result, "not an unencrypted PEM private key")
    assert "BEGIN" not in result.stderr


def test_build_with_broken_yaml(tmp_path: Path, test_keys) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("bundle_id: [unclosed\n")
    result = run("build", spec, "--key", test_keys.private, "-o", tmp_path / "x.iso")
    assert_one_line_error(result, "is not valid YAML")


def test_real_entry_point_prints_no_traceback(bundle_factory, test_keys) -> None:
    image = bundle_factory(truncate_to=50_000)
    completed = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bundle", "verify", str(image),
         "--trusted-key", str(test_keys.public)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False,
    )
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith(f"error: {image} is truncated: the image declares ")
    assert lines[0].endswith("but only 50000 are present")


def test_build_into_missing_directory(tmp_path: Path, test_keys) -> None:
    out = tmp_path / "no" / "such" / "dir" / "b.iso"
    result = run("build", write_spec(tmp_path), "--key", test_keys.private, "-o", out)
    assert_one_line_error(result, "cannot write bundle", "No such file or directory")
