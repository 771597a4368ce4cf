"""Version schemes: the vendor strings real BMCs report, ordering laws, manifest round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_payloads import Manifest, ManifestError, VersionError, explain_applicability
from firmware_payloads.schemes import VersionScheme

SHA = "0" * 64
SEMVER = VersionScheme.from_dict({"type": "semver"})
DOTTED = VersionScheme.from_dict({"type": "dotted"})
EXACT = VersionScheme.from_dict({"type": "exact"})
HPE_U46 = VersionScheme.from_dict({"type": "regex", "pattern": r"U46 v(\d+)\.(\d+)(?: \(.*\))?",
                                   "groups": ["int", "int"]})
HPE_P79 = VersionScheme.from_dict({"type": "regex", "pattern": r"P79 v(\d+)\.(\d+)",
                                   "groups": ["int", "int"]})
DELL_A = VersionScheme.from_dict({"type": "regex", "pattern": r"A(\d+)", "groups": ["int"]})
HEX = VersionScheme.from_dict({"type": "regex", "pattern": r"(0x[0-9a-fA-F]+)",
                               "groups": ["hex"]})
DMTF = VersionScheme.from_dict({"type": "regex", "pattern": r"(\d+)\.(\d+)\.[0-9a-f]+-rev(\d+)",
                                "groups": ["int", "int", "int"]})


@pytest.mark.parametrize(("scheme", "older", "newer"), [
    (HPE_U46, "U46 v2.90 (10/25/2024)", "U46 v2.100 (01/12/2025)"),
    (HPE_U46, "U46 v2.90 (10/25/2024)", "U46 v3.02"),
    (HPE_P79, "P79 v1.45", "P79 v1.50"),
    (DOTTED, "7.00.00.171", "7.00.00.1710"),
    (DOTTED, "7.00.00.171", "7.10"),
    (DOTTED, "2.19.1", "2.20"),
    (SEMVER, "2.19.1", "2.19.2"),
    (SEMVER, "1.6.0-rc3", "1.6.0"),
    (SEMVER, "1.6.0-rc.3", "1.6.0-rc.10"),
    (SEMVER, "1.6.0-rc10", "1.6.0-rc3"),  # SemVer 2.0: alphanumeric identifiers compare as text
    (SEMVER, "1.6.0-alpha", "1.6.0-alpha.1"),
    (SEMVER, "1.6.0-2", "1.6.0-alpha"),
    (DELL_A, "A05", "A11"),
    (HEX, "0x0000000b", "0x0000000c"),
    (HEX, "0x0000000b", "0x000000a0"),
    (DMTF, "1.45.455b66-rev4", "1.45.9a01ff-rev5"),
])
def test_real_strings_order(scheme: VersionScheme, older: str, newer: str) -> None:
    assert scheme.compare(older, newer) == -1
    assert scheme.compare(newer, older) == 1
    assert scheme.at_least(newer, older) and not scheme.at_least(older, newer)


@pytest.mark.parametrize(("scheme", "a", "b"), [
    (DOTTED, "7.00.00.171", "7.0.0.171"),
    (DOTTED, "2.19", "2.19.0.0"),
    (SEMVER, "1.6.0+build.5", "1.6.0+other"),
    (HEX, "0x0000000b", "0xB"),
    (HPE_U46, "U46 v2.90 (10/25/2024)", "U46 v2.90 (11/01/2024)"),
    (EXACT, "A05", "A05"),
])
def test_real_strings_equal(scheme: VersionScheme, a: str, b: str) -> None:
    assert scheme.compare(a, b) == 0 and scheme.at_least(a, b)


@pytest.mark.parametrize(("scheme", "text"), [
    (SEMVER, "P79 v1.45"), (SEMVER, "7.00.00.171"), (SEMVER, "1.6"), (SEMVER, "01.6.0"),
    (DOTTED, "1.6.0-rc3"), (DOTTED, "A05"), (DOTTED, "0x0000000b"), (DOTTED, ""),
    (HPE_P79, "U46 v2.90 (10/25/2024)"), (HPE_P79, "P79 v1.45 extra"),
    (DELL_A, "A5b"), (HEX, "0xZZ"), (DMTF, "1.45.455b66"),
])
def test_unreadable_strings_are_quoted(scheme: VersionScheme, text: str) -> None:
    with pytest.raises(VersionError) as caught:
        scheme.key(text)
    assert repr(text) in str(caught.value)


def test_exact_scheme_knows_only_equality() -> None:
    assert not EXACT.at_least("A04", "A05") and not EXACT.at_least("A06", "A05")
    with pytest.raises(VersionError, match="'A04' and 'A05' differ"):
        EXACT.compare("A04", "A05")


def test_auto_groups_put_numbers_before_text() -> None:
    scheme = VersionScheme.from_dict({"type": "regex", "pattern": r"(\w+)(?:-(\w+))?"})
    assert scheme.compare("1-2", "1-b") == -1
    assert scheme.compare("1", "1-2") == -1  # an absent group sorts first
    assert scheme.compare("A-b", "a-B") == 0


@pytest.mark.parametrize(("raw", "message"), [
    ("semver", "must be an object"),
    ({"type": "calendar"}, "type must be one of semver, dotted, regex, exact"),
    ({"type": "default"}, "type must be one of"),
    ({"type": "semver", "pattern": "x"}, "unknown field(s): 'pattern'"),
    ({"type": "regex"}, "pattern must be a regular expression"),
    ({"type": "regex", "pattern": "("}, "not a valid regular expression"),
    ({"type": "regex", "pattern": "A05"}, "1 to 16 capture groups"),
    ({"type": "regex", "pattern": "A(\\d+)", "groups": ["int", "int"]}, "one type per"),
    ({"type": "regex", "pattern": "A(\\d+)", "groups": ["float"]}, "each be one of"),
])
def test_bad_schemes_are_refused(raw: Any, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        VersionScheme.from_dict(raw)
    assert message in str(caught.value)


# --- ordering laws ----------------------------------------------------------------

def _semver_text(core: list[int], pre: list[int | str] | None) -> str:
    text = ".".join(map(str, core))
    return text if pre is None else text + "-" + ".".join(map(str, pre))


semver_text = st.builds(
    _semver_text, st.lists(st.integers(0, 3), min_size=3, max_size=3),
    st.none() | st.lists(st.integers(0, 3) | st.sampled_from(["a", "b", "rc", "RC1", "x-y"]),
                         min_size=1, max_size=3))
dotted_text = st.lists(st.integers(0, 12), min_size=1, max_size=4).map(
    lambda parts: ".".join(f"{p:0{p % 3 + 1}d}" for p in parts))
hex_text = st.integers(0, 300).map(lambda n: f"0x{n:08x}")
vendor_text = st.tuples(st.integers(0, 3), st.integers(0, 120)).map(
    lambda v: f"U46 v{v[0]}.{v[1]:02d} (10/25/2024)")
auto_scheme = VersionScheme.from_dict({"type": "regex", "pattern": r"([a-z0-9]+)(?:-(\w+))?"})
auto_text = st.tuples(st.sampled_from(["1", "2", "10", "a", "b"]),
                      st.none() | st.sampled_from(["1", "9", "rc", "B"])).map(
    lambda t: t[0] if t[1] is None else f"{t[0]}-{t[1]}")

CASES = [(SEMVER, semver_text), (DOTTED, dotted_text), (HEX, hex_text), (HPE_U46, vendor_text),
         (auto_scheme, auto_text)]


@pytest.mark.parametrize(("scheme", "strategy"), CASES)
@given(data=st.data())
def test_compare_is_a_total_preorder(scheme: VersionScheme, strategy: Any,
                                     data: st.DataObject) -> None:
    a, b, c = (data.draw(strategy) for _ in range(3))
    assert scheme.compare(a, a) == 0                                  # reflexive
    assert scheme.compare(a, b) == -scheme.compare(b, a)              # antisymmetric, total
    if scheme.compare(a, b) <= 0 and scheme.compare(b, c) <= 0:
        assert scheme.compare(a, c) <= 0                              # transitive
    assert scheme.at_least(a, b) == (scheme.compare(a, b) >= 0)       # consistent


@given(core=st.lists(st.integers(0, 9), min_size=3, max_size=3),
       pre=st.lists(st.integers(0, 9) | st.sampled_from(["a", "rc"]), min_size=1, max_size=3))
def test_semver_prerelease_sorts_before_its_release(core: list[int],
                                                   pre: list[int | str]) -> None:
    assert SEMVER.compare(_semver_text(core, pre), _semver_text(core, None)) == -1


@given(parts=st.lists(st.integers(0, 99), min_size=1, max_size=4), zeros=st.integers(0, 3))
def test_dotted_trailing_zeros_do_not_matter(parts: list[int], zeros: int) -> None:
    text = ".".join(map(str, parts))
    assert DOTTED.compare(text, text + ".0" * zeros) == 0


# --- the manifest -------------------------------------------------------------------

def package(pid: str, component: str, version: str, scheme: dict[str, Any] | None = None,
            min_from: str | None = None, models: tuple[str, ...] = ("R1",)) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": pid, "component": component, "version": version, "models": list(models),
        "min_from_version": min_from, "requires": [], "reset": "host",
        "path": f"p/{pid}.bin", "size": 1, "sha256": SHA}
    if scheme is not None:
        raw["version_scheme"] = scheme
    return raw


def manifest(*packages: dict[str, Any]) -> Manifest:
    return Manifest.from_dict({"schema_version": 1, "bundle_id": "b", "release": "r",
                               "publisher": "p", "packages": list(packages)})


def test_old_manifest_round_trips_byte_for_byte() -> None:
    old = manifest(package("bios", "BIOS", "1.5.0"))
    assert "version_scheme" not in json.loads(old.to_json())["packages"][0]
    assert Manifest.from_json(old.to_json()) == old


def test_scheme_round_trips_through_the_manifest() -> None:
    regex = {"type": "regex", "pattern": r"P79 v(\d+)\.(\d+)", "groups": ["int", "int"]}
    first = manifest(package("bios", "BIOS", "P79 v1.50", regex, min_from="P79 v1.10"))
    again = Manifest.from_json(first.to_json())
    assert again == first
    assert json.loads(again.to_json())["packages"][0]["version_scheme"] == regex


@pytest.mark.parametrize(("raw", "message"), [
    (package("bios", "BIOS", "P79 v1.50"), "field 'version'"),
    (package("bios", "BIOS", "1.5", {"type": "semver"}), "not a semantic version"),
    (package("bios", "BIOS", "A05", {"type": "exact"}, min_from="A01"),
     "min_from_version needs an ordered version scheme"),
    (package("bios", "BIOS", "2.0", {"type": "dotted"}, min_from="1.0-rc"),
     "field 'min_from_version'"),
    ({**package("bios", "BIOS", "1.0"), "version_schema": {"type": "semver"}},
     "unknown field(s): 'version_schema'"),
])
def test_manifest_refuses_versions_its_scheme_cannot_read(raw: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        manifest(raw)
    assert message in str(caught.value)


def test_decisions_follow_each_package_scheme() -> None:
    bundle = manifest(
        package("bios", "BIOS", "P79 v1.50",
                {"type": "regex", "pattern": r"P79 v(\d+)\.(\d+)", "groups": ["int", "int"]}),
        package("bmc", "BMC", "1.46.0aa001-rev1",
                {"type": "regex", "pattern": r"(\d+)\.(\d+)\.[0-9a-f]+-rev(\d+)",
                 "groups": ["int", "int", "int"]}),
        package("nic", "NIC", "A05", {"type": "exact"}),
        package("cpld", "CPLD", "1.6.0", {"type": "semver"}),
    )
    installed = {"BIOS": "P79 v1.45", "BMC": "1.45.455b66-rev4", "NIC": "A05",
                 "CPLD": "0x0000000b", "PSU": "whatever (untouched)"}
    decided = {d.package.id: (d.action, d.reason)
               for d in explain_applicability(bundle, "R1", installed)}
    assert decided["bios"][0] == "apply"
    assert decided["bmc"][0] == "apply"
    assert decided["nic"] == ("skip_not_newer", "NIC A05 is A05")
    assert decided["cpld"][0] == "unknown_version"
    assert "'0x0000000b'" in decided["cpld"][1] and "semver" in decided["cpld"][1]


def test_build_spec_carries_the_scheme_into_the_manifest() -> None:
    from firmware_payloads import BundleSpec
    from firmware_payloads.build import manifest_from_spec

    spec = BundleSpec.from_dict({
        "bundle_id": "b", "release": "r", "publisher": "p",
        "packages": [{"id": "bios", "component": "BIOS", "version": "A07", "models": ["R1"],
                      "reset": "host", "path": "p/bios.bin", "size": 4,
                      "version_scheme": {"type": "regex", "pattern": "A(\\d+)"}},
                     {"id": "bmc", "component": "BMC", "version": "2.0", "models": ["R1"],
                      "reset": "bmc", "path": "p/bmc.bin", "size": 4}]})
    built = manifest_from_spec(spec)
    assert built.package("bios").version_scheme == VersionScheme.from_dict(
        {"type": "regex", "pattern": "A(\\d+)", "groups": ["auto"]})
    assert "version_scheme" not in built.package("bmc").to_dict()
