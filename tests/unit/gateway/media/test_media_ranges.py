"""RFC 9110 §13 (conditional requests) and §14 (ranges), table-driven."""

from __future__ import annotations

import pytest

from gateway.media.ranges import MAX_RANGE_SPECS, ByteRange, parse_range, plan_response

SIZE = 1000
ETAG = '"abc123"'

# (description, Range value, expected: None = ignore the field (200), () = 416, else ranges)
RANGE_CASES = [
    ("first bytes", "bytes=0-99", (ByteRange(0, 99),)),
    ("open-ended", "bytes=900-", (ByteRange(900, 999),)),
    ("suffix", "bytes=-100", (ByteRange(900, 999),)),
    ("suffix longer than representation", "bytes=-5000", (ByteRange(0, 999),)),
    ("last-pos beyond end is clipped", "bytes=990-5000", (ByteRange(990, 999),)),
    ("single last byte", "bytes=999-999", (ByteRange(999, 999),)),
    ("unit is case-insensitive", "BYTES=0-0", (ByteRange(0, 0),)),
    ("whitespace around specs", "bytes= 0-1 ,\t5-6 ", (ByteRange(0, 1), ByteRange(5, 6))),
    ("empty list elements ignored", "bytes=,0-1,,5-6,", (ByteRange(0, 1), ByteRange(5, 6))),
    ("two ranges keep request order", "bytes=500-509,0-9", (ByteRange(500, 509), ByteRange(0, 9))),
    ("overlapping ranges coalesce", "bytes=0-99,50-149", (ByteRange(0, 149),)),
    ("adjacent ranges coalesce", "bytes=0-99,100-199", (ByteRange(0, 199),)),
    ("overlap reorders ascending", "bytes=500-600,0-10,5-20",
     (ByteRange(0, 20), ByteRange(500, 600))),
    ("many overlapping small ranges", "bytes=" + ",".join(f"{i}-{i + 5}" for i in range(50)),
     (ByteRange(0, 54),)),
    ("first-pos at size is unsatisfiable", "bytes=1000-", ()),
    ("first-pos beyond size", "bytes=5000-6000", ()),
    ("zero suffix is unsatisfiable", "bytes=-0", ()),
    ("one satisfiable among unsatisfiable", "bytes=5000-,10-19", (ByteRange(10, 19),)),
    ("huge positions do not overflow", "bytes=0-" + "9" * 5000, (ByteRange(0, 999),)),
    ("huge first-pos unsatisfiable", "bytes=" + "9" * 5000 + "-", ()),
    ("leading zeros", "bytes=0010-0019", (ByteRange(10, 19),)),
    ("last before first is invalid", "bytes=10-5", None),
    ("unknown unit", "items=0-5", None),
    ("missing unit", "0-5", None),
    ("no ranges", "bytes=", None),
    ("garbage", "bytes=abc", None),
    ("negative first", "bytes=--5", None),
    ("signed numbers", "bytes=+1-5", None),
    ("non-ASCII digits", "bytes=\u0661-5", None),
    ("spaces inside a spec", "bytes=0 - 5", None),
    ("one bad spec spoils the field", "bytes=0-5,x", None),
    ("too many range-specs", "bytes=" + ",".join(f"{i * 2}-{i * 2}" for i in range(101)), None),
]


@pytest.mark.parametrize(("description", "value", "expected"), RANGE_CASES,
                         ids=[c[0] for c in RANGE_CASES])
def test_media_parse_range(description: str, value: str, expected: object) -> None:
    assert parse_range(value, SIZE) == expected


def test_media_parse_range_accepts_exactly_the_limit() -> None:
    value = "bytes=" + ",".join(f"{i * 2}-{i * 2}" for i in range(MAX_RANGE_SPECS))
    ranges = parse_range(value, SIZE)
    assert ranges is not None and len(ranges) == MAX_RANGE_SPECS


# (description, method, headers, expected status, expected ranges)
PLAN_CASES = [
    ("no conditionals, no range", "GET", {}, 200, ()),
    ("plain range", "GET", {"range": ["bytes=0-9"]}, 206, (ByteRange(0, 9),)),
    ("HEAD ignores range", "HEAD", {"range": ["bytes=0-9"]}, 200, ()),
    ("two Range fields are ignored", "GET", {"range": ["bytes=0-9", "bytes=5-9"]}, 200, ()),
    ("unsatisfiable", "GET", {"range": ["bytes=2000-"]}, 416, ()),
    ("If-Range strong match", "GET", {"range": ["bytes=0-9"], "if-range": [ETAG]}, 206,
     (ByteRange(0, 9),)),
    ("If-Range mismatch sends all", "GET", {"range": ["bytes=0-9"], "if-range": ['"other"']},
     200, ()),
    ("If-Range weak tag never matches", "GET",
     {"range": ["bytes=0-9"], "if-range": ["W/" + ETAG]}, 200, ()),
    ("If-Range date never matches (no Last-Modified)", "GET",
     {"range": ["bytes=0-9"], "if-range": ["Wed, 21 Oct 2015 07:28:00 GMT"]}, 200, ()),
    ("If-Range mismatch beats unsatisfiable", "GET",
     {"range": ["bytes=5000-"], "if-range": ['"other"']}, 200, ()),
    ("If-Match match", "GET", {"if-match": [ETAG]}, 200, ()),
    ("If-Match star", "GET", {"if-match": ["*"]}, 200, ()),
    ("If-Match in a list", "GET", {"if-match": ['"x", ' + ETAG]}, 200, ()),
    ("If-Match tag containing comma", "GET", {"if-match": ['"a,b"']}, 412, ()),
    ("If-Match mismatch", "GET", {"if-match": ['"other"']}, 412, ()),
    ("If-Match weak is not strong", "GET", {"if-match": ["W/" + ETAG]}, 412, ()),
    ("If-Match malformed", "GET", {"if-match": ["abc123"]}, 412, ()),
    ("If-Match failure beats Range", "GET", {"if-match": ['"x"'], "range": ["bytes=0-1"]},
     412, ()),
    ("If-None-Match match", "GET", {"if-none-match": [ETAG]}, 304, ()),
    ("If-None-Match weak match", "HEAD", {"if-none-match": ["W/" + ETAG]}, 304, ()),
    ("If-None-Match star", "GET", {"if-none-match": ["*"]}, 304, ()),
    ("If-None-Match mismatch serves range", "GET",
     {"if-none-match": ['"x"'], "range": ["bytes=0-1"]}, 206, (ByteRange(0, 1),)),
    ("If-None-Match split over fields", "GET", {"if-none-match": ['"x"', ETAG]}, 304, ()),
    ("If-Modified-Since is ignored", "GET",
     {"if-modified-since": ["Wed, 21 Oct 2099 07:28:00 GMT"]}, 200, ()),
    ("If-Unmodified-Since is ignored", "GET",
     {"if-unmodified-since": ["Wed, 21 Oct 1999 07:28:00 GMT"]}, 200, ()),
]


@pytest.mark.parametrize(("description", "method", "headers", "status", "ranges"), PLAN_CASES,
                         ids=[c[0] for c in PLAN_CASES])
def test_media_plan_response(description: str, method: str, headers: dict[str, list[str]],
                             status: int, ranges: tuple[ByteRange, ...]) -> None:
    plan = plan_response(method, SIZE, ETAG, headers)
    assert (plan.status, plan.ranges) == (status, ranges)
