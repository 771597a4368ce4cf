"""Validation of payload paths: relative POSIX paths that stay inside the image.

Each rule has its own message so a user sees *why* a path was refused.
"""

from __future__ import annotations

import re

from firmware_payloads.errors import UnsafePathError

# Joliet caps a name at 64 UCS-2 characters; staying inside it keeps the
# Rock Ridge and Joliet views of the image identical.
MAX_COMPONENT_LENGTH = 64
MAX_PATH_LENGTH = 240
MAX_DEPTH = 8
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def check_payload_path(path: str, *, package_id: str = "?") -> str:
    """Return ``path`` unchanged when it is a safe relative path, else raise UnsafePathError.

    Safe means: non-empty, relative, '/'-separated, no '..' or '.' component,
    no backslash, NUL or control character, at most MAX_DEPTH components of
    at most MAX_COMPONENT_LENGTH characters from [A-Za-z0-9._+-].
    """
    where = f"package {package_id!r}"
    if not isinstance(path, str) or not path:
        raise UnsafePathError(f"{where}: payload path is empty")
    shown = path[:MAX_PATH_LENGTH].encode("unicode_escape").decode("ascii")
    if "\x00" in path:
        raise UnsafePathError(f"{where}: payload path {shown!r} contains a NUL byte")
    if "\\" in path:
        raise UnsafePathError(f"{where}: payload path {shown!r} contains a backslash")
    if path.startswith("/"):
        raise UnsafePathError(f"{where}: payload path {shown!r} is absolute")
    components = path.split("/")
    if ".." in components:
        raise UnsafePathError(f"{where}: payload path {shown!r} escapes the bundle ('..')")
    if len(path) > MAX_PATH_LENGTH:
        raise UnsafePathError(f"{where}: payload path is longer than {MAX_PATH_LENGTH} characters")
    if len(components) > MAX_DEPTH:
        raise UnsafePathError(f"{where}: payload path {shown!r} is nested deeper than {MAX_DEPTH}")
    for component in components:
        if not component or component == ".":
            raise UnsafePathError(f"{where}: payload path {shown!r} has an empty or '.' component")
        if len(component) > MAX_COMPONENT_LENGTH or not _COMPONENT_RE.match(component):
            raise UnsafePathError(
                f"{where}: payload path component {component!r} must be 1-"
                f"{MAX_COMPONENT_LENGTH} characters of A-Z a-z 0-9 . _ + -"
            )
    return path
