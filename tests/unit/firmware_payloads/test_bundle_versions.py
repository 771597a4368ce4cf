"""Version parsing and the documented total order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_payloads import Version, VersionError, parse_version

# (description, lower, higher)
ORDER_CASES = [
    ("numeric, not lexical", "2.9", "2.10"),
    ("more significant part wins", "1.99.99", "2.0"),
    ("longer with non-zero tail", "1.2", "1.2.1"),
    ("release before its build", "1.4.0", "1.4.0-b2"),
    ("build numbers numeric", "1.4.0-b9", "1.4.0-b10"),
    ("digit run before letter run", "1.0-9", "1.0-b"),
    ("letters alphabetical", "1.0-beta", "1.0-rc1"),
    ("suffix never beats a higher release", "1.4.0-b999", "1.4.1"),
]


@pytest.mark.parametrize(("description", "lower", "higher"), ORDER_CASES)
def test_documented_order(description: str, lower: str, higher: str) -> None:
    assert parse_version(lower) < parse_version(higher), description
    assert parse_version(higher) > parse_version(lower), description


@pytest.mark.parametrize(
    ("left", "right"),
    [("1.2", "1.2.0"), ("2.010", "2.10"), ("1.0-B17", "1.0-b17"), ("0", "0.0.0")],
)
def test_equal_spellings(left: str, right: str) -> None:
    assert parse_version(left) == parse_version(right)
    assert hash(parse_version(left)) == hash(parse_version(right))
    assert str(parse_version(left)) == left  # display keeps the original spelling


@pytest.mark.parametrize(
    "text", ["", "v1.2", "1..2", "1.2.", ".1", "1.2-", "1.2_b3", "1.2 ", "1.-2", "x", "1" * 65]
)
def test_rejects_malformed(text: str) -> None:
    with pytest.raises(VersionError, match="invalid version"):
        parse_version(text)


numbers = st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=4)
suffixes = st.none() | st.from_regex(r"\A[a-z0-9]{1,4}(\.[a-z0-9]{1,3})?\Z")


@st.composite
def versions(draw: st.DrawFn) -> Version:
    text = ".".join(str(n) for n in draw(numbers))
    suffix = draw(suffixes)
    if suffix is not None:
        text += "-" + suffix
    return parse_version(text)


@given(versions(), versions())
def test_order_is_total_and_consistent(a: Version, b: Version) -> None:
    # Exactly one of <, ==, > holds, and it agrees with the reverse comparison.
    assert [a < b, a == b, a > b].count(True) == 1
    assert (a < b) == (b > a)
    assert (a == b) == (b == a)
    assert (a <= b) == (not a > b)
    if a == b:
        assert hash(a) == hash(b)


@given(versions(), versions(), versions())
def test_order_is_transitive(a: Version, b: Version, c: Version) -> None:
    low, mid, high = sorted([a, b, c])
    assert low <= mid <= high
    assert low <= high


@given(st.lists(versions(), max_size=8))
def test_sorting_is_stable_under_reparse(items: list[Version]) -> None:
    reparsed = [parse_version(str(v)) for v in items]
    assert sorted(reparsed) == sorted(items)


def test_version_constructor_parses_and_sorts() -> None:
    assert sorted([Version("2.10"), Version("2.9"), Version("2.9-b1")]) == [
        Version("2.9"), Version("2.9-b1"), Version("2.10")]
    with pytest.raises(VersionError):
        Version("two")
