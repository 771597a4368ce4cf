"""Bundle specs: YAML loading, the sample spec, deterministic generated payloads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from firmware_payloads import BundleSpec, ManifestError
from firmware_payloads.build import manifest_from_spec, measure
from firmware_payloads.spec import GeneratedPayload

SAMPLE_SPEC = (
    Path(__file__).resolve().parents[3] / "firmware_payloads/samples/quarterly-2026q4.yaml"
)


def test_sample_spec_is_a_realistic_quarterly_bundle() -> None:
    manifest = manifest_from_spec(BundleSpec.from_yaml(SAMPLE_SPEC))
    assert manifest.models == ("FF-1U-R450", "FF-2U-R750", "FF-4U-X900")
    for model in manifest.models:
        components = {p.component for p in manifest.packages_for_model(model)}
        assert components == {"BMC", "BIOS", "NIC"}
    assert {p.reset.value for p in manifest.packages} == {"bmc", "host", "none"}
    bios = [p for p in manifest.packages if p.component == "BIOS"]
    assert all(manifest.package(dep).component == "BMC" for p in bios for dep in p.requires)


def test_generated_payload_is_deterministic_and_sized() -> None:
    first = GeneratedPayload("bundle/pkg", 3 * (1 << 20) + 5)
    assert measure(first) == measure(GeneratedPayload("bundle/pkg", 3 * (1 << 20) + 5))
    size, digest = measure(first)
    assert size == 3 * (1 << 20) + 5
    assert digest != measure(GeneratedPayload("bundle/other", size))[1]


def test_generated_payload_seeks_like_a_file() -> None:
    payload = GeneratedPayload("seed", 2_500_000)
    with payload.open() as stream:
        whole = stream.read()
        stream.seek(1_048_570)
        assert stream.read(20) == whole[1_048_570:1_048_590]
        stream.seek(0)
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(whole).digest()


@pytest.mark.parametrize(
    ("description", "text", "message"),
    [
        ("not a mapping", "- a\n- b\n", "must be a mapping"),
        ("no packages", "bundle_id: b\npackages: []\n", "non-empty list"),
        ("unknown top field", "bundle_id: b\nextra: 1\npackages: [{}]\n", "unknown field"),
        ("both file and size",
         "bundle_id: b\npackages:\n - {id: a, file: x, size: 1, version: '1'}\n",
         "exactly one of 'file' or 'size'"),
        ("negative size", "bundle_id: b\npackages:\n - {id: a, size: -1, version: '1'}\n",
         "'size' must be a byte count"),
        ("models as a string",
         "bundle_id: b\npackages:\n - {id: a, size: 1, version: '1', models: M1}\n",
         "'models' must be a list"),
    ],
)
def test_malformed_specs(tmp_path: Path, description: str, text: str, message: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    with pytest.raises(ManifestError, match=message):
        BundleSpec.from_yaml(spec)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read bundle spec"):
        BundleSpec.from_yaml(tmp_path / "absent.yaml")
