"""The sample bundle's El Torito boot images and their builders."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def regenerate(listing: Iterable[tuple[bytes, str]], base: int, path: Path,
               image: bytes) -> int:
    """Print a hand-assembled listing (address from ``base``, bytes, mnemonic) for review,
    then write ``image`` to ``path``: what regenerating a checked-in boot image runs."""
    offset = 0
    for chunk, text in listing:
        print(f"{base + offset:04X}  {chunk[:8].hex(' '):<24}  {text}")
        offset += len(chunk)
    path.write_bytes(image)
    print(f"wrote {path} ({len(image)} bytes)")
    return 0
