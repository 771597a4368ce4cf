"""How a package's versions are read and compared: the manifest's ``version_scheme``.

BMCs report versions in their vendor's spelling (``U46 v2.90 (10/25/2024)``,
``P79 v1.45``, ``A05``, ``0x0000000b``, ``1.45.455b66-rev4``); no single
grammar orders them all. A package may therefore say how its component's
versions read (docs/bundle-format.md, "Version schemes"):

``default`` (no ``version_scheme`` in the manifest)
    the grammar of firmware_payloads.versions (dotted numbers, optional build
    suffix that sorts after the release).
``semver``
    Semantic Versioning 2.0.0 precedence: ``1.6.0-rc3`` < ``1.6.0``; build
    metadata (``+...``) is ignored.
``dotted``
    dotted decimal numbers of any length, compared as integers left to right;
    missing trailing parts count as zero (``7.00.00.171``, ``2.19.1``).
``regex``
    ``pattern`` must match the whole string; its capture groups, in order, are
    the comparison key. ``groups`` gives each group's type: ``int`` (decimal),
    ``hex`` (``0x`` optional), ``text`` (case-insensitive) or ``auto`` (digits
    as a number, anything else as text, numbers before text). A group that did
    not take part in the match sorts before any value.
``exact``
    no order at all: the installed version either is the package's version or
    it is not. ``min_from_version`` cannot be used with it.

Every reading error is a VersionError that quotes the exact string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from firmware_payloads.errors import ManifestError, VersionError
from firmware_payloads.versions import MAX_VERSION_LENGTH, parse_version

MAX_PATTERN_LENGTH = 256
MAX_GROUPS = 16

_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_DOTTED_RE = re.compile(r"^\d+(?:\.\d+)*$")

# A key piece: (tag, number, text). The tag keeps numbers and text apart (never compared
# with each other); -1 marks an absent regex group.
Piece = tuple[int, int, str]
VersionKey = tuple[Any, ...]


class SchemeKind(StrEnum):
    DEFAULT = "default"
    SEMVER = "semver"
    DOTTED = "dotted"
    REGEX = "regex"
    EXACT = "exact"


class GroupType(StrEnum):
    AUTO = "auto"
    INT = "int"
    HEX = "hex"
    TEXT = "text"


@dataclass(frozen=True)
class VersionScheme:
    """How versions of one package's component are read. Build with ``from_dict``."""

    kind: SchemeKind = SchemeKind.DEFAULT
    pattern: str | None = None
    groups: tuple[GroupType, ...] = ()

    @property
    def ordered(self) -> bool:
        """False for ``exact``: only equality is known."""
        return self.kind is not SchemeKind.EXACT

    def describe(self) -> str:
        if self.kind is SchemeKind.REGEX:
            return f"regex '{self.pattern}'"
        return f"{self.kind.value} version"

    def key(self, text: str) -> VersionKey:
        """The comparison key of ``text``; VersionError quoting it when it does not read."""
        if not isinstance(text, str) or not text or len(text) > MAX_VERSION_LENGTH:
            raise VersionError(f"version {str(text)[:MAX_VERSION_LENGTH]!r} is empty or "
                               f"longer than {MAX_VERSION_LENGTH} characters")
        if self.kind is SchemeKind.DEFAULT:
            return (parse_version(text),)
        if self.kind is SchemeKind.EXACT:
            return (text,)
        if self.kind is SchemeKind.DOTTED:
            return _dotted_key(text)
        if self.kind is SchemeKind.SEMVER:
            return _semver_key(text)
        return self._regex_key(text)

    def compare(self, have: str, want: str) -> int:
        """-1, 0 or 1 as ``have`` is older, the same or newer than ``want``.
        VersionError when either does not read, or the scheme has no order and they
        differ (``exact``)."""
        a, b = self.key(have), self.key(want)
        if a == b:
            return 0
        if not self.ordered:
            raise VersionError(f"versions {have!r} and {want!r} differ and the exact scheme "
                               "does not order them")
        return -1 if a < b else 1

    def at_least(self, have: str, want: str) -> bool:
        """``have`` is ``want`` or newer (for ``exact``: is ``want``). VersionError when a
        string does not read."""
        a, b = self.key(have), self.key(want)
        return a == b if not self.ordered else a >= b

    def _regex_key(self, text: str) -> VersionKey:
        assert self.pattern is not None
        match = re.fullmatch(self.pattern, text)
        if match is None:
            raise VersionError(f"version {text!r} does not match the pattern {self.pattern!r}")
        return tuple(_group_piece(value, kind, text)
                     for value, kind in zip(match.groups(), self.groups, strict=True))

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"type": self.kind.value}
        if self.kind is SchemeKind.REGEX:
            document["pattern"] = self.pattern
            document["groups"] = [g.value for g in self.groups]
        return document

    @classmethod
    def from_dict(cls, raw: Any, where: str = "version_scheme") -> VersionScheme:
        """Validate a manifest's ``version_scheme`` object; ManifestError names the problem."""
        if not isinstance(raw, Mapping):
            raise ManifestError(f"{where} must be an object with a 'type'")
        named = [k.value for k in SchemeKind if k is not SchemeKind.DEFAULT]
        try:
            kind = SchemeKind(str(raw.get("type")))
        except ValueError:
            kind = SchemeKind.DEFAULT
        if kind is SchemeKind.DEFAULT:
            raise ManifestError(f"{where} type must be one of {', '.join(named)} "
                                f"(got {raw.get('type')!r})")
        allowed = {"type", "pattern", "groups"} if kind is SchemeKind.REGEX else {"type"}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ManifestError(f"{where} ({kind.value}) has unknown field(s): "
                                f"{', '.join(map(repr, unknown))}")
        if kind is not SchemeKind.REGEX:
            return cls(kind)
        return cls(kind, *_regex_parts(raw, where))


DEFAULT_SCHEME = VersionScheme()


def _regex_parts(raw: Mapping[str, Any], where: str) -> tuple[str, tuple[GroupType, ...]]:
    pattern = raw.get("pattern")
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise ManifestError(f"{where} pattern must be a regular expression of at most "
                            f"{MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ManifestError(f"{where} pattern {pattern!r} is not a valid regular expression: "
                            f"{exc}") from exc
    if not 1 <= compiled.groups <= MAX_GROUPS:
        raise ManifestError(f"{where} pattern {pattern!r} must have 1 to {MAX_GROUPS} capture "
                            "groups (they are the comparison key, in order)")
    raw_groups = raw.get("groups", [GroupType.AUTO.value] * compiled.groups)
    if not isinstance(raw_groups, list) or len(raw_groups) != compiled.groups:
        raise ManifestError(f"{where} groups must list one type per capture group "
                            f"({compiled.groups} in {pattern!r})")
    try:
        groups = tuple(GroupType(g) for g in raw_groups)
    except ValueError:
        raise ManifestError(f"{where} groups must each be one of "
                            f"{', '.join(g.value for g in GroupType)}") from None
    return pattern, groups


def _group_piece(value: str | None, kind: GroupType, text: str) -> Piece:
    if value is None:
        return (-1, 0, "")
    if kind is GroupType.TEXT:
        return (1, 0, value.lower())
    if kind is GroupType.HEX:
        digits = value[2:] if value[:2].lower() == "0x" else value
        if not digits or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
            raise VersionError(f"version {text!r}: {value!r} is not a hexadecimal number")
        return (0, int(digits, 16), "")
    if value.isascii() and value.isdigit():
        return (0, int(value), "")
    if kind is GroupType.INT:
        raise VersionError(f"version {text!r}: {value!r} is not a decimal number")
    return (1, 0, value.lower())


def _dotted_key(text: str) -> VersionKey:
    if not _DOTTED_RE.match(text):
        raise VersionError(f"version {text!r} is not dotted decimal numbers (e.g. 7.00.00.171)")
    numbers = [int(part) for part in text.split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def _semver_key(text: str) -> VersionKey:
    match = _SEMVER_RE.match(text)
    if match is None:
        raise VersionError(f"version {text!r} is not a semantic version (e.g. 1.6.0-rc3)")
    core = (int(match[1]), int(match[2]), int(match[3]))
    if match[4] is None:
        return (*core, 1, ())  # a release sorts after every pre-release of it
    pieces = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in match[4].split("."))
    return (*core, 0, pieces)


def scheme_of(raw: Mapping[str, Any] | None, where: str) -> VersionScheme:
    """The scheme a manifest package names (None = default)."""
    return DEFAULT_SCHEME if raw is None else VersionScheme.from_dict(raw, where)
