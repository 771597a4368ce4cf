"""Firmware version strings and their total order.

Grammar: dotted numerics with an optional build suffix, e.g. ``2.10.3``,
``1.4.0-b17``, ``22.31.6-rc2``::

    version := NUM ("." NUM)* ["-" SUFFIX]
    NUM     := one or more ASCII digits
    SUFFIX  := ASCII letters, digits and dots, starting with a letter or digit

Ordering (documented in docs/bundle-format.md):

1. Numeric parts compare as integers, left to right; missing trailing parts
   count as zero, so ``1.2`` == ``1.2.0`` and ``2.10`` > ``2.9``.
2. With equal numeric parts, a version without suffix sorts *before* one with a
   suffix: a build suffix marks a later build of the same release
   (``1.4.0`` < ``1.4.0-b2``).
3. Two suffixes compare piecewise: runs of digits as integers, runs of letters
   case-insensitively, a digit run before a letter run (``b9`` < ``b10`` < ``rc1``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from firmware_payloads.errors import VersionError

_VERSION_RE = re.compile(r"^(\d+(?:\.\d+)*)(?:-([A-Za-z0-9][A-Za-z0-9.]*))?$")
_SUFFIX_RUN_RE = re.compile(r"\d+|[A-Za-z]+")
MAX_VERSION_LENGTH = 64

# A suffix piece: (0, number) for a digit run, (1, lowercase text) for letters.
# The leading tag keeps int and str from ever being compared with each other.
_SuffixPiece = tuple[int, int | str]
_SortKey = tuple[tuple[int, ...], int, tuple[_SuffixPiece, ...]]


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A parsed firmware version; totally ordered, hashable, equal by order.

    ``Version("2.10.3")`` parses (VersionError if malformed). ``text`` keeps the
    original spelling for display; comparison uses the normalised key, so
    ``Version("1.2") == Version("1.2.0")``.
    """

    text: str
    _key: _SortKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", _sort_key(self.text))

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key == other._key

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key < other._key

    def __hash__(self) -> int:
        return hash(self._key)


def parse_version(text: str) -> Version:
    """Parse a version string (grammar in the module docstring).

    Raises VersionError naming the string when it does not match the grammar
    or is longer than MAX_VERSION_LENGTH characters.
    """
    return Version(text)


def _sort_key(text: str) -> _SortKey:
    if not isinstance(text, str):
        raise VersionError(f"version must be a string, got {type(text).__name__}")
    match = _VERSION_RE.match(text)
    if match is None or len(text) > MAX_VERSION_LENGTH:
        raise VersionError(
            f"invalid version {text[:MAX_VERSION_LENGTH]!r}: expected dotted numbers "
            "with an optional build suffix, e.g. 2.10.3 or 1.4.0-b17"
        )
    numbers = [int(part) for part in match.group(1).split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    suffix = match.group(2)
    pieces: tuple[_SuffixPiece, ...] = ()
    if suffix is not None:
        pieces = tuple(
            (0, int(run)) if run.isdigit() else (1, run.lower())
            for run in _SUFFIX_RUN_RE.findall(suffix)
        )
    return (tuple(numbers), 0 if suffix is None else 1, pieces)
