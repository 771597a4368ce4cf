"""RFC 9110 conditional requests (§13) and byte ranges (§14) for one representation.

Pure functions: given the method, the representation's size and strong ETag, and
the request's header fields, decide the status and the byte ranges to send. The
server has no Last-Modified date (a content hash is a better validator), so
If-Modified-Since and If-Unmodified-Since never apply and a date in If-Range
never matches (§13.1.5), which makes the server send the full representation.

Policy choices the RFC leaves open (§14.2):
- a syntactically invalid Range field, several Range fields, an unknown range
  unit, or more than MAX_RANGE_SPECS range-specs: the Range field is ignored
  (200 with the whole representation), as nginx and Apache do;
- overlapping or adjacent ranges are coalesced (§14.6), then sent in ascending
  order; otherwise parts keep the order the client asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_RANGE_SPECS = 100
# Positions longer than this many digits are beyond any file we could hold; cap
# them instead of converting (int() refuses > 4300 digits).
_MAX_DIGITS = 19
_HUGE = 10**_MAX_DIGITS
_OWS = " \t"
_INT_RANGE = re.compile(r"^([0-9]+)-([0-9]*)$")
_SUFFIX_RANGE = re.compile(r"^-([0-9]+)$")
_ETAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')


@dataclass(frozen=True)
class ByteRange:
    """Inclusive byte positions [first, last] of the representation."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class ResponsePlan:
    """status is one of 200, 206, 304, 412, 416; ranges is non-empty only for 206."""

    status: int
    ranges: tuple[ByteRange, ...] = ()


Headers = Mapping[str, Sequence[str]]


def plan_response(method: str, size: int, etag: str, headers: Headers) -> ResponsePlan:
    """Evaluate preconditions, then Range, in the order of RFC 9110 §13.2.2.

    method: "GET" or "HEAD"; size: representation length in bytes; etag: the
    strong entity-tag including quotes; headers: lower-case field name -> values.
    """
    if_match = _joined(headers, "if-match")
    if if_match is not None and not _matches(if_match, etag, weak=False):
        return ResponsePlan(412)
    if_none_match = _joined(headers, "if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag, weak=True):
        return ResponsePlan(304)
    range_values = headers.get("range", ())
    # Range is defined for GET only (§14.2); HEAD describes the full representation.
    if method != "GET" or len(range_values) != 1:
        return ResponsePlan(200)
    if_range = _joined(headers, "if-range")
    if if_range is not None and not _if_range_matches(if_range, etag):
        return ResponsePlan(200)
    ranges = parse_range(range_values[0], size)
    if ranges is None:
        return ResponsePlan(200)
    if not ranges:
        return ResponsePlan(416)
    return ResponsePlan(206, ranges)


def parse_range(value: str, size: int) -> tuple[ByteRange, ...] | None:
    """Parse one Range field value against a representation of `size` bytes.

    Returns None when the field must be ignored (bad syntax, unknown unit, too many
    range-specs), an empty tuple when no range is satisfiable (416), else the
    satisfiable ranges, clipped to the representation and coalesced.
    """
    unit, sep, range_set = value.strip(_OWS).partition("=")
    if not sep or unit.lower() != "bytes":
        return None
    # 1#range-spec: empty list elements are legal and ignored (RFC 9110 §5.6.1.2).
    specs = [s.strip(_OWS) for s in range_set.split(",")]
    specs = [s for s in specs if s]
    if not specs or len(specs) > MAX_RANGE_SPECS:
        return None
    wanted: list[ByteRange] = []
    for spec in specs:
        try:
            parsed = _parse_spec(spec, size)
        except _InvalidSpec:
            return None
        if parsed is not None:
            wanted.append(parsed)
    return _coalesce(wanted)


class _InvalidSpec(Exception):
    """A range-spec that breaks the grammar (the whole Range field is then ignored)."""


def _parse_spec(spec: str, size: int) -> ByteRange | None:
    """A ByteRange, or None when valid but unsatisfiable. Raises _InvalidSpec."""
    match = _INT_RANGE.match(spec)
    if match:
        first = _position(match.group(1))
        last = _position(match.group(2)) if match.group(2) else None
        if last is not None and last < first:
            raise _InvalidSpec(spec)
        if first >= size:
            return None
        return ByteRange(first, size - 1 if last is None else min(last, size - 1))
    match = _SUFFIX_RANGE.match(spec)
    if match:
        suffix = _position(match.group(1))
        if suffix == 0 or size == 0:
            return None
        return ByteRange(max(0, size - suffix), size - 1)
    raise _InvalidSpec(spec)


def _position(digits: str) -> int:
    stripped = digits.lstrip("0") or "0"
    return _HUGE if len(stripped) > _MAX_DIGITS else int(stripped)


def _coalesce(ranges: list[ByteRange]) -> tuple[ByteRange, ...]:
    ordered = sorted(ranges, key=lambda r: r.first)
    touching = any(b.first <= a.last + 1 for a, b in zip(ordered, ordered[1:], strict=False))
    if not touching:
        return tuple(ranges)
    merged: list[ByteRange] = []
    for current in ordered:
        if merged and current.first <= merged[-1].last + 1:
            merged[-1] = ByteRange(merged[-1].first, max(merged[-1].last, current.last))
        else:
            merged.append(current)
    return tuple(merged)


def _joined(headers: Headers, name: str) -> str | None:
    values = headers.get(name)
    return ", ".join(values) if values else None


def _parse_etags(value: str) -> list[tuple[bool, str]] | None:
    """[(is_weak, opaque)] of a 1#entity-tag list, or None if malformed."""
    tags: list[tuple[bool, str]] = []
    pos = 0
    text = value.strip(_OWS)
    while pos < len(text):
        if text[pos] in _OWS + ",":
            pos += 1
            continue
        match = _ETAG.match(text, pos)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        pos = match.end()
        while pos < len(text) and text[pos] in _OWS:
            pos += 1
        if pos < len(text) and text[pos] != ",":
            return None
    return tags


def _matches(field: str, etag: str, *, weak: bool) -> bool:
    """If-Match (strong comparison) / If-None-Match (weak comparison), §13.1.1-2.

    A malformed field never matches; "*" matches because the representation exists.
    """
    if field.strip(_OWS) == "*":
        return True
    tags = _parse_etags(field)
    if tags is None:
        return False
    opaque = etag.strip('"')
    return any(tag == opaque and (weak or not is_weak) for is_weak, tag in tags)


def _if_range_matches(field: str, etag: str) -> bool:
    """If-Range: a single strong entity-tag equal to ours (§13.1.5). Dates never match."""
    tags = _parse_etags(field)
    if tags is None or len(tags) != 1:
        return False
    is_weak, opaque = tags[0]
    return not is_weak and opaque == etag.strip('"')
