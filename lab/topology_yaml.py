"""Reading a YAML node tree with line marks, collecting clear problems.

`yaml.compose` keeps every node's start mark, so each problem can name the
file, the 1-based line and the dotted field path, e.g.
``demo.yaml:14: clusters[0].groups[1].max_unavailable: must be an integer >= 1, got "one"``.
Readers collect problems instead of stopping at the first one, so a user
fixes a file in one pass; every reader returns None for a field it rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"

# Names become BMC ids, libvirt domain names and URL path parts.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")

# A file with a systematic mistake can produce thousands of findings; the
# message shows the first ones, `TopologyError.problems` keeps them all.
MAX_SHOWN = 25

# Decodes single scalars only (no document state is used).
_CONSTRUCTOR = yaml.SafeLoader("")


class TopologyError(Exception):
    """A topology file is unreadable or invalid; `problems` lists every finding."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        shown = [str(problem) for problem in self.problems[:MAX_SHOWN]]
        if len(self.problems) > MAX_SHOWN:
            shown.append(f"... and {len(self.problems) - MAX_SHOWN} more problems")
        super().__init__("\n".join(shown))


@dataclass(frozen=True)
class Problem:
    """One finding: `file:line: field: message` (line is 1-based, 0 = whole file)."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if not self.field:
            return f"{where}: {self.message}"
        return f"{where}: {self.field}: {self.message}"


def line_of(node: yaml.Node) -> int:
    """The 1-based line where `node` starts."""
    return int(node.start_mark.line) + 1


def describe(node: yaml.Node) -> str:
    """How a rejected value is shown back to the user: its source text, quoted."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == NULL_TAG:
        return "nothing (null)"
    text = str(node.value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f'"{text}"'


def join(field: str, key: str | int) -> str:
    """Extend a dotted field path: join("a", "b") == "a.b"; join("a", 2) == "a[2]"."""
    if isinstance(key, int):
        return f"{field}[{key}]"
    return f"{field}.{key}" if field else key


class Reader:
    """Typed accessors over composed YAML nodes that record problems as they go."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def fail(self, node: yaml.Node | None, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, line_of(node) if node else 0, field, message))

    def compose(self, text: str) -> yaml.Node | None:
        """Parse YAML text to a node tree; a syntax error becomes a problem."""
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = int(mark.line) + 1 if mark else 0
            self.problems.append(Problem(self.file, line, "", f"not valid YAML: {exc.problem}"))
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.file, 0, "", f"not valid YAML: {exc}"))
        return None

    def mapping(
        self,
        node: yaml.Node,
        field: str,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        any_keys: bool = False,
    ) -> dict[str, yaml.Node] | None:
        """Return key -> value node of a mapping with string keys.

        Unknown keys (unless `any_keys`), duplicate keys and missing required
        keys are problems; the keys that were fine are still returned.
        """
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, field or "(top level)", f"must be a mapping, got {describe(node)}")
            return None
        required = tuple(required)
        allowed = set(required) | set(optional)
        result: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == NULL_TAG:
                self.fail(key_node, field, f"keys must be names, got {describe(key_node)}")
                continue
            key = str(key_node.value)
            if key in result:
                self.fail(key_node, join(field, key), "duplicate key")
            elif not any_keys and key not in allowed:
                expected = ", ".join(sorted(allowed))
                self.fail(key_node, join(field, key), f"unknown key (expected one of: {expected})")
            else:
                result[key] = value_node
        for key in required:
            if key not in result:
                self.fail(node, field or "(top level)", f"missing required key '{key}'")
        return result

    def sequence(self, node: yaml.Node, field: str, *,
                 allow_empty: bool = False) -> list[yaml.Node]:
        """Return the items of a list ([] after recording a problem)."""
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, field, f"must be a list, got {describe(node)}")
            return []
        if not node.value and not allow_empty:
            self.fail(node, field, "must not be empty")
        return list(node.value)

    def text(self, node: yaml.Node, field: str) -> str | None:
        """A non-empty string scalar (numbers are accepted as their source text)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == NULL_TAG or node.value == "":
            self.fail(node, field, f"must be a non-empty string, got {describe(node)}")
            return None
        if node.tag not in (STR_TAG, INT_TAG, FLOAT_TAG):
            self.fail(node, field, f"must be a string, got {describe(node)}")
            return None
        return str(node.value)

    def name(self, node: yaml.Node, field: str, *, pattern: re.Pattern[str] = NAME_PATTERN,
             ) -> str | None:
        """A name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
        value = self.text(node, field)
        if value is not None and not pattern.match(value):
            self.fail(node, field, "must be 1-63 letters, digits, '.', '_' or '-' "
                      f"starting with a letter or digit, got {describe(node)}")
            return None
        return value

    def integer(self, node: yaml.Node, field: str, *, minimum: int = 0) -> int | None:
        """An integer >= `minimum` (booleans and floats are refused)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == INT_TAG:
            # YAML 1.1 ints include 0x1f, 0o17, 1_000 and 1:30; let PyYAML decode them.
            value = _CONSTRUCTOR.construct_object(node)
            if isinstance(value, int) and value >= minimum:
                return value
        self.fail(node, field, f"must be an integer >= {minimum}, got {describe(node)}")
        return None

    def boolean(self, node: yaml.Node, field: str) -> bool | None:
        """true or false."""
        if isinstance(node, yaml.ScalarNode) and node.tag == BOOL_TAG:
            return bool(_CONSTRUCTOR.construct_object(node))
        self.fail(node, field, f"must be true or false, got {describe(node)}")
        return None

    def seconds(self, node: yaml.Node, field: str, *, maximum: float = 3600.0,
                unit: str = "seconds") -> float | None:
        """A duration: a number in [0, maximum] (`unit` only names it in messages)."""
        if isinstance(node, yaml.ScalarNode) and node.tag in (INT_TAG, FLOAT_TAG):
            value = float(_CONSTRUCTOR.construct_object(node))
            if 0.0 <= value <= maximum:  # also refuses .nan
                return value
        self.fail(node, field, f"must be a number of {unit} from 0 to {maximum:g}, "
                  f"got {describe(node)}")
        return None

    def choice(self, node: yaml.Node, field: str, choices: Iterable[str]) -> str | None:
        """One of `choices` (the message lists them)."""
        options = tuple(choices)
        if isinstance(node, yaml.ScalarNode) and node.tag == STR_TAG and node.value in options:
            return str(node.value)
        self.fail(node, field, f"must be one of {', '.join(options)}; got {describe(node)}")
        return None
