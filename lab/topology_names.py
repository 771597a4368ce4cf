"""Compact names in topology files: ranges and placeholders.

``web-[01-12]`` expands to web-01 ... web-12 (the start's width sets the zero
padding: ``[1-12]`` gives web-1 ... web-12). One range per name. Before
expansion ``{cluster}`` and ``{group}`` are replaced by the enclosing
cluster's and group's names, so one node entry can serve many expanded groups.
"""

from __future__ import annotations

import re

RANGE = re.compile(r"\[(\d+)-(\d+)\]")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
MAX_EXPANSION = 100_000


class NamePatternError(ValueError):
    """A name pattern cannot be expanded; the message says why."""


def substitute(pattern: str, values: dict[str, str]) -> str:
    """Replace `{key}` placeholders from `values`.

    Raises NamePatternError naming an unknown placeholder and the known ones.
    """

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            known = ", ".join("{" + name + "}" for name in sorted(values)) or "none here"
            raise NamePatternError(f"unknown placeholder {{{key}}} (known: {known})")
        return values[key]

    return PLACEHOLDER.sub(replace, pattern)


def expand(pattern: str) -> list[str]:
    """Expand at most one `[START-END]` range in `pattern` (START <= END).

    Raises NamePatternError for more than one range, START > END, or more
    than MAX_EXPANSION names.
    """
    matches = list(RANGE.finditer(pattern))
    if not matches:
        return [pattern]
    if len(matches) > 1:
        raise NamePatternError("only one [START-END] range is allowed in a name")
    match = matches[0]
    start_text, end_text = match.group(1), match.group(2)
    start, end = int(start_text), int(end_text)
    if start > end:
        raise NamePatternError(f"range [{start_text}-{end_text}] runs backwards")
    if end - start + 1 > MAX_EXPANSION:
        raise NamePatternError(f"range [{start_text}-{end_text}] gives more than "
                               f"{MAX_EXPANSION} names")
    width = len(start_text) if start_text.startswith("0") else 0
    head, tail = pattern[: match.start()], pattern[match.end():]
    return [f"{head}{index:0{width}d}{tail}" for index in range(start, end + 1)]
