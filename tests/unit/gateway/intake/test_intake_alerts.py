"""Validation shared by every alert channel (CIM, CLI, REST)."""

from __future__ import annotations

import pytest

from gateway.intake.alerts import image_withdrawn, update_available
from gateway.intake.errors import AlertFormatError

SHA = "ab" * 32
GOOD_ARGS = ["http://h.example/fw/a.iso", SHA, "bundle-1", "2026.Q4"]


def _update(**overrides: object) -> object:
    values: dict[str, object] = {"indication_identifier": "id-1", "owning_entity": "FLEETFLASH",
                                 "arguments": list(GOOD_ARGS)}
    values.update(overrides)
    return update_available(**values)  # type: ignore[arg-type]


def test_four_arguments_make_an_update_without_manifest_uri() -> None:
    alert = _update()
    assert alert.image_sha256 == SHA and alert.manifest_uri is None  # type: ignore[attr-defined]


def test_fifth_argument_is_the_manifest_uri() -> None:
    alert = _update(arguments=[*GOOD_ARGS, "http://h.example/fw/a.iso.manifest.json"])
    assert alert.manifest_uri == "http://h.example/fw/a.iso.manifest.json"  # type: ignore


BAD = [
    ("three arguments", {"arguments": GOOD_ARGS[:3]}, "4 or 5 entries"),
    ("six arguments", {"arguments": [*GOOD_ARGS, "http://h.example/m", "x"]}, "4 or 5"),
    ("uppercase digest", {"arguments": [GOOD_ARGS[0], SHA.upper(), *GOOD_ARGS[2:]]},
     "ImageSHA256"),
    ("short digest", {"arguments": [GOOD_ARGS[0], SHA[:-2], *GOOD_ARGS[2:]]}, "ImageSHA256"),
    ("non-hex digest", {"arguments": [GOOD_ARGS[0], "g" * 64, *GOOD_ARGS[2:]]}, "ImageSHA256"),
    ("file ImageURI", {"arguments": ["file:///etc/passwd", *GOOD_ARGS[1:]]}, "ImageURI"),
    ("ftp ManifestURI", {"arguments": [*GOOD_ARGS, "ftp://h.example/m"]}, "ManifestURI"),
    ("empty BundleID", {"arguments": [*GOOD_ARGS[:2], "", GOOD_ARGS[3]]}, "BundleID"),
    ("control char in Release", {"arguments": [*GOOD_ARGS[:3], "a\nb"]}, "Release"),
    ("empty identifier", {"indication_identifier": " "}, "IndicationIdentifier"),
    ("huge identifier", {"indication_identifier": "x" * 300}, "IndicationIdentifier"),
    ("empty OwningEntity", {"owning_entity": ""}, "OwningEntity"),
]


@pytest.mark.parametrize(("description", "overrides", "named"), BAD, ids=[b[0] for b in BAD])
def test_malformed_update_is_refused_naming_the_value(description: str,
                                                      overrides: dict[str, object],
                                                      named: str) -> None:
    with pytest.raises(AlertFormatError, match=named):
        _update(**overrides)


def test_withdrawal_needs_bundle_id_and_digest() -> None:
    alert = image_withdrawn(indication_identifier="w", owning_entity="FLEETFLASH",
                            arguments=["bundle-1", SHA])
    assert (alert.bundle_id, alert.image_sha256) == ("bundle-1", SHA)
    with pytest.raises(AlertFormatError, match="2 entries"):
        image_withdrawn(indication_identifier="w", owning_entity="F", arguments=[SHA])
    with pytest.raises(AlertFormatError, match="ImageSHA256"):
        image_withdrawn(indication_identifier="w", owning_entity="F", arguments=["b", "zz"])
