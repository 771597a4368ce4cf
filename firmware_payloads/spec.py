"""Bundle build specifications (YAML or dict) and the payload sources they name.

A spec describes everything in the manifest except ``size`` and ``sha256``,
which the builder measures from the payload bytes. Each package names its
bytes in one of two ways:

- ``file: RELATIVE/OR/ABSOLUTE/PATH`` — a file, relative to the spec file;
- ``size: BYTES`` — deterministic pseudo-random bytes generated at build time
  from the bundle id and package id (so samples commit no binary payloads).

An optional top-level ``boot`` mapping makes the image a bootable CD:
``boot: {bios: FILE, efi: FILE}`` (either or both; files relative to the spec),
see docs/bundle-format.md "Bootable bundles".
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import yaml

from firmware_payloads.boot import BOOT_PLATFORMS, refuse_unknown_platforms
from firmware_payloads.errors import ManifestError
from firmware_payloads.manifest import MAX_PAYLOAD_BYTES, PackageTarget

_PACKAGE_SPEC_FIELDS = frozenset(
    {"id", "component", "version", "models", "min_from_version", "requires", "reset",
     "path", "file", "size", "version_scheme"}
)
_GENERATED_BLOCK = 1 << 20


class PayloadSource(Protocol):
    """Where a payload's bytes come from. ``open`` returns a fresh readable, seekable stream."""

    @property
    def size(self) -> int: ...

    def open(self) -> BinaryIO: ...


@dataclass(frozen=True)
class FilePayload:
    """Payload bytes read from a file on disk (streamed, never loaded whole)."""

    path: Path

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError as exc:
            raise ManifestError(f"cannot read payload file {self.path}: {exc.strerror}") from exc

    def open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise ManifestError(f"cannot read payload file {self.path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class BytesPayload:
    """Payload bytes held in memory (tests, small payloads)."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)


@dataclass(frozen=True)
class GeneratedPayload:
    """``size`` deterministic bytes derived from ``seed``; generated on demand, 1 MiB at a time."""

    seed: str
    size: int

    def open(self) -> BinaryIO:
        return io.BufferedReader(_GeneratedStream(self.seed.encode("utf-8"), self.size))


class _GeneratedStream(io.RawIOBase):
    """Seekable stream of SHAKE-256(seed || block number) blocks, truncated to ``size``."""

    def __init__(self, seed: bytes, size: int) -> None:
        super().__init__()
        self._seed = seed
        self._size = size
        self._position = 0
        self._block_index = -1
        self._block = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._position)
        written = 0
        while written < wanted:
            index, offset = divmod(self._position, _GENERATED_BLOCK)
            if index != self._block_index:
                self._block = hashlib.shake_256(self._seed + index.to_bytes(8, "big")).digest(
                    _GENERATED_BLOCK
                )
                self._block_index = index
            take = min(wanted - written, _GENERATED_BLOCK - offset)
            view[written : written + take] = self._block[offset : offset + take]
            written += take
            self._position += take
        return written


@dataclass(frozen=True)
class PackageSpec(PackageTarget):
    """A package as the publisher writes it: the manifest fields minus size/sha256, plus bytes.

    ``reset`` is still the raw text; building the manifest checks it.
    """

    reset: str
    path: str
    source: PayloadSource
    # The manifest's version_scheme object as written (checked when the manifest is built).
    version_scheme: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class BootSpec:
    """An El Torito boot image to add: platform ``bios`` or ``efi``, and its bytes."""

    platform: str
    source: PayloadSource


@dataclass(frozen=True)
class BundleSpec:
    """What to build. Validation of field values happens when the manifest is built."""

    bundle_id: str
    release: str
    publisher: str
    packages: tuple[PackageSpec, ...]
    boot: tuple[BootSpec, ...] = ()

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> BundleSpec:
        """Load a YAML spec; ``file:`` paths are relative to the spec's directory.

        Raises ManifestError naming the file on unreadable or malformed YAML.
        """
        spec_path = Path(path)
        try:
            document = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ManifestError(f"cannot read bundle spec {spec_path}: {exc.strerror}") from exc
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            where = f" (line {line + 1})" if isinstance(line, int) else ""
            raise ManifestError(f"bundle spec {spec_path} is not valid YAML{where}") from exc
        return cls.from_dict(document, base_dir=spec_path.parent)

    @classmethod
    def from_dict(cls, document: Any, *, base_dir: str | os.PathLike[str] = ".") -> BundleSpec:
        """Build a spec from a mapping shaped like the YAML; ManifestError if malformed."""
        if not isinstance(document, Mapping):
            raise ManifestError("bundle spec must be a mapping")
        unknown = sorted(
            set(document) - {"bundle_id", "release", "publisher", "packages", "boot"}
        )
        if unknown:
            raise ManifestError(f"bundle spec has unknown field(s): {', '.join(unknown)}")
        packages = document.get("packages")
        if not isinstance(packages, Sequence) or isinstance(packages, str) or not packages:
            raise ManifestError("bundle spec field 'packages' must be a non-empty list")
        bundle_id = str(document.get("bundle_id", ""))
        return cls(
            bundle_id=bundle_id,
            release=str(document.get("release", "")),
            publisher=str(document.get("publisher", "")),
            packages=tuple(
                _package_spec(raw, index, bundle_id, Path(base_dir))
                for index, raw in enumerate(packages)
            ),
            boot=_boot_specs(document.get("boot"), Path(base_dir)),
        )


def _boot_specs(raw: Any, base_dir: Path) -> tuple[BootSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not raw:
        raise ManifestError(
            "bundle spec field 'boot' must be a mapping like {bios: FILE, efi: FILE}"
        )
    refuse_unknown_platforms(raw, "bundle spec field 'boot'", str)
    specs = []
    for platform in BOOT_PLATFORMS:
        if platform in raw:
            if not isinstance(raw[platform], str) or not raw[platform]:
                raise ManifestError(f"bundle spec field 'boot.{platform}' must be a file path")
            specs.append(BootSpec(platform, FilePayload(base_dir / raw[platform])))
    return tuple(specs)


def _package_spec(raw: Any, index: int, bundle_id: str, base_dir: Path) -> PackageSpec:
    if not isinstance(raw, Mapping):
        raise ManifestError(f"bundle spec package #{index} must be a mapping")
    package_id = str(raw.get("id", f"#{index}"))
    where = f"bundle spec package {package_id!r}"
    unknown = sorted(set(raw) - _PACKAGE_SPEC_FIELDS)
    if unknown:
        raise ManifestError(f"{where} has unknown field(s): {', '.join(unknown)}")
    if ("file" in raw) == ("size" in raw):
        raise ManifestError(f"{where} needs exactly one of 'file' or 'size'")
    source: PayloadSource
    if "file" in raw:
        source = FilePayload(base_dir / str(raw["file"]))
    else:
        size = raw["size"]
        valid = isinstance(size, int) and not isinstance(size, bool)
        if not valid or not 0 <= size <= MAX_PAYLOAD_BYTES:
            raise ManifestError(f"{where} field 'size' must be a byte count 0..{MAX_PAYLOAD_BYTES}")
        source = GeneratedPayload(seed=f"{bundle_id}/{package_id}", size=size)
    min_from = raw.get("min_from_version")
    return PackageSpec(
        id=package_id,
        component=str(raw.get("component", "")),
        version=_version_field(raw, "version", where),
        models=_name_list(raw, "models", where),
        min_from_version=(
            None if min_from is None else _version_field(raw, "min_from_version", where)
        ),
        requires=_name_list(raw, "requires", where),
        reset=str(raw.get("reset", "none")),
        path=str(raw.get("path", "")),
        source=source,
        version_scheme=raw.get("version_scheme"),
    )


def _version_field(raw: Mapping[str, Any], name: str, where: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        # YAML reads 1.10 as the float 1.1; refusing non-strings avoids that silent change.
        raise ManifestError(f"{where} field {name!r} must be a quoted string, e.g. \"1.10\"")
    return value


def _name_list(raw: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = raw.get(name, [])
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ManifestError(f"{where} field {name!r} must be a list")
    return tuple(str(item) for item in value)
