"""The image layout documented in docs/bundle-format.md, checked on a built image."""

from __future__ import annotations

from pathlib import Path

import pycdlib

from firmware_payloads import open_bundle
from firmware_payloads.layout import ISO_BLOCK


def test_three_views_of_the_same_files(sample_bundle: Path) -> None:
    iso = pycdlib.PyCdlib()
    iso.open(str(sample_bundle))
    try:
        for rr_path, iso_path in [("/fleetflash/manifest.json", "/FLEETFLASH/MANIFEST.JSON;1"),
                                  ("/fleetflash/manifest.sig", "/FLEETFLASH/MANIFEST.SIG;1")]:
            by_rr = iso.get_record(rr_path=rr_path)
            assert iso.get_record(iso_path=iso_path).extent_location() == by_rr.extent_location()
            assert iso.get_record(joliet_path=rr_path).extent_location() == by_rr.extent_location()
        with open_bundle(sample_bundle) as reader:
            for pkg in reader.manifest.packages:
                record = iso.get_record(rr_path="/" + pkg.path)
                assert record.get_data_length() == pkg.size
                joliet = iso.get_record(joliet_path="/" + pkg.path)
                assert joliet.extent_location() == record.extent_location()
    finally:
        iso.close()


def test_manifest_and_signature_sit_before_all_payloads(sample_bundle: Path) -> None:
    iso = pycdlib.PyCdlib()
    iso.open(str(sample_bundle))
    try:
        manifest_at = iso.get_record(rr_path="/fleetflash/manifest.json").extent_location()
        signature_at = iso.get_record(rr_path="/fleetflash/manifest.sig").extent_location()
        with open_bundle(sample_bundle) as reader:
            payload_starts = [iso.get_record(rr_path="/" + p.path).extent_location()
                              for p in reader.manifest.packages]
        assert max(manifest_at, signature_at) < min(payload_starts)
        # Within the first 128 KiB, so a remote reader gets it in its first couple of reads.
        assert (signature_at + 1) * ISO_BLOCK <= 128 * 1024
    finally:
        iso.close()


def test_local_inspect_reads_only_metadata(sample_bundle: Path) -> None:
    with open_bundle(sample_bundle) as reader:
        assert reader.manifest.bundle_id == "fleetflash-2026q4"
        assert reader.bytes_transferred < 200_000
        assert reader.size == sample_bundle.stat().st_size
