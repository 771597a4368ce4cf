"""Building a signed bundle image: measure payloads, sign the manifest, write the ISO.

Payloads are streamed twice (once to hash, once into the image) and never
held in memory, so a bundle of any size builds in constant memory. The image
is written to a temporary file beside ``out_path`` and renamed into place only
when complete, so a failed build leaves nothing behind.

A spec with ``boot`` images makes a bootable CD: the images go to fixed names
under ``/fleetflash/boot/``, the manifest records their size and sha256 (so the
signature covers them), and an El Torito boot catalog points at them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import pycdlib
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pycdlib.pycdlibexception import PyCdlibException

from firmware_payloads import layout
from firmware_payloads.boot import BootImage, check_boot_image_head, check_boot_image_size
from firmware_payloads.errors import BundleError, HashMismatchError, UnsafePathError
from firmware_payloads.manifest import SCHEMA_VERSION, Manifest
from firmware_payloads.sources import ReadOnlyStream
from firmware_payloads.spec import BootSpec, BundleSpec, PayloadSource

log = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20
_ISO_DIR_NAME_RE = re.compile(r"^[A-Z0-9_]{1,31}$")


@dataclass(frozen=True)
class ImageFile:
    """One payload to place in the image at Rock Ridge/Joliet path ``path``."""

    path: str
    source: PayloadSource
    expected_sha256: str | None = None


@dataclass(frozen=True)
class BootFile:
    """An El Torito boot image for ``platform`` (``bios``/``efi``), at its fixed name."""

    platform: str
    source: PayloadSource
    expected_sha256: str | None = None


def measure(source: PayloadSource) -> tuple[int, str]:
    """Stream a payload once; return (size in bytes, lowercase sha256 hex)."""
    digest = hashlib.sha256()
    size = 0
    with source.open() as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def manifest_from_spec(spec: BundleSpec) -> Manifest:
    """Measure every payload and return the validated manifest (ManifestError if invalid)."""
    packages: list[dict[str, Any]] = []
    for pkg in spec.packages:
        size, sha256 = measure(pkg.source)
        log.debug("measured payload %s: %d bytes sha256 %s", pkg.id, size, sha256)
        packages.append(
            {
                "id": pkg.id,
                "component": pkg.component,
                "version": pkg.version,
                "models": list(pkg.models),
                "min_from_version": pkg.min_from_version,
                "requires": list(pkg.requires),
                "reset": pkg.reset,
                "path": pkg.path,
                "size": size,
                "sha256": sha256,
                **({} if pkg.version_scheme is None
                   else {"version_scheme": dict(pkg.version_scheme)}),
            }
        )
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "bundle_id": spec.bundle_id,
        "release": spec.release,
        "publisher": spec.publisher,
        "packages": packages,
    }
    if spec.boot:
        document["boot"] = {
            image.platform: image.to_dict() for image in map(_measure_boot, spec.boot)
        }
    return Manifest.from_dict(document)


def _measure_boot(boot: BootSpec) -> BootImage:
    size, sha256 = measure(boot.source)
    check_boot_image_size(boot.platform, size)
    with boot.source.open() as stream:
        check_boot_image_head(boot.platform, stream.read(512))
    log.debug("measured %s boot image: %d bytes sha256 %s", boot.platform, size, sha256)
    return BootImage(boot.platform, size, sha256)


def build_bundle(
    spec: BundleSpec, private_key: Ed25519PrivateKey, out_path: str | os.PathLike[str]
) -> Manifest:
    """Build and sign the bundle described by ``spec`` into ``out_path``; return its manifest.

    Raises ManifestError/UnsafePathError for an invalid spec, HashMismatchError
    if a payload changed while being written, BundleError if the image cannot
    be written. ``out_path`` is replaced atomically and only on success.
    """
    manifest = manifest_from_spec(spec)
    manifest_bytes = manifest.to_json()
    files = [
        ImageFile(pkg.path, spec_pkg.source, pkg.sha256)
        for pkg, spec_pkg in zip(manifest.packages, spec.packages, strict=True)
    ]
    sources = {boot.platform: boot.source for boot in spec.boot}
    boot = [BootFile(image.platform, sources[image.platform], image.sha256)
            for image in manifest.boot]
    write_image(out_path, manifest_bytes, private_key.sign(manifest_bytes), files, boot)
    return manifest


def write_image(
    out_path: str | os.PathLike[str],
    manifest_bytes: bytes,
    signature: bytes,
    files: Sequence[ImageFile],
    boot: Sequence[BootFile] = (),
) -> None:
    """Write an ISO holding exactly these manifest bytes, signature and files, and an
    El Torito boot catalog for the ``boot`` images (in that order: the first is the
    catalog's initial entry, each further one gets its own section).

    No validation of the manifest happens here, which is what lets tests craft
    hostile images; callers normally go through ``build_bundle``.
    """
    target = Path(out_path)
    temporary = target.with_name(f".{target.name}.partial")
    iso = pycdlib.PyCdlib()
    try:
        iso.new(
            interchange_level=layout.ISO_INTERCHANGE_LEVEL,
            vol_ident=layout.VOLUME_ID,
            rock_ridge=layout.ROCK_RIDGE_VERSION,
            joliet=layout.JOLIET_LEVEL,
        )
        iso.add_directory(
            layout.META_DIR_ISO, rr_name=layout.META_DIR_RR, joliet_path="/" + layout.META_DIR_RR
        )
        iso.add_fp(
            io.BytesIO(manifest_bytes), len(manifest_bytes), layout.MANIFEST_ISO,
            rr_name="manifest.json", joliet_path=layout.MANIFEST_JOLIET,
        )
        iso.add_fp(
            io.BytesIO(signature), len(signature), layout.SIGNATURE_ISO,
            rr_name="manifest.sig", joliet_path=layout.SIGNATURE_JOLIET,
        )
        with ExitStack() as stack:
            checkers = _add_boot_images(iso, boot, stack) + _add_payloads(iso, files, stack)
            try:
                with temporary.open("wb") as out:
                    iso.write_fp(out, blocksize=_HASH_CHUNK)
                for checker in checkers:
                    checker.check()
                temporary.replace(target)
            except OSError as exc:
                raise BundleError(f"cannot write bundle {target}: {exc.strerror}") from exc
    except PyCdlibException as exc:
        raise BundleError(f"cannot lay out bundle image {target}: {exc}") from exc
    finally:
        with contextlib.suppress(PyCdlibException):
            iso.close()
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _add_boot_images(
    iso: pycdlib.PyCdlib, boot: Sequence[BootFile], stack: ExitStack
) -> list[_CheckedStream]:
    if not boot:
        return []
    iso.add_directory(
        layout.BOOT_DIR_ISO, rr_name="boot", joliet_path="/" + layout.BOOT_DIR_RR
    )
    checkers: list[_CheckedStream] = []
    for image in boot:
        iso_path, rr_path = layout.BOOT_IMAGES[image.platform]
        item = ImageFile(rr_path.lstrip("/"), image.source, image.expected_sha256)
        size = image.source.size
        checker = _CheckedStream(stack.enter_context(image.source.open()), item, size)
        checkers.append(checker)
        iso.add_fp(cast(BinaryIO, checker), size, iso_path,
                   rr_name=rr_path.rpartition("/")[2], joliet_path=rr_path)
        # No-emulation entries: firmware loads exactly the image's 512-byte
        # sectors (the size is a checked multiple of 512).
        iso.add_eltorito(
            iso_path, bootcatfile=layout.BOOT_CATALOG_ISO, rr_bootcatname="boot.cat",
            joliet_bootcatfile=layout.BOOT_CATALOG_RR, boot_load_size=size // 512,
            platform_id=layout.BOOT_PLATFORM_IDS[image.platform],
            efi=image.platform == "efi", media_name="noemul",
        )
    return checkers


def _add_payloads(
    iso: pycdlib.PyCdlib, files: Sequence[ImageFile], stack: ExitStack
) -> list[_CheckedStream]:
    iso_dirs: dict[str, str] = {"": ""}  # manifest directory -> ISO 9660 directory
    used_iso_names: set[str] = {layout.META_DIR_ISO}
    checkers: list[_CheckedStream] = []
    for number, item in enumerate(files, start=1):
        if layout.is_reserved_path(item.path):
            raise UnsafePathError(
                f"payload path {item.path!r} is inside the reserved {layout.META_DIR_RR}/ directory"
            )
        parent, _, name = item.path.rpartition("/")
        iso_parent = _ensure_directory(iso, parent, iso_dirs, used_iso_names)
        size = item.source.size
        checker = _CheckedStream(stack.enter_context(item.source.open()), item, size)
        checkers.append(checker)
        iso.add_fp(
            cast(BinaryIO, checker), size, f"{iso_parent}/P{number:04d}.BIN;1",
            rr_name=name, joliet_path="/" + item.path,
        )
    return checkers


def _ensure_directory(
    iso: pycdlib.PyCdlib, rr_dir: str, iso_dirs: dict[str, str], used: set[str]
) -> str:
    """Create (parents first) the ISO directory standing for Rock Ridge dir ``rr_dir``."""
    if rr_dir in iso_dirs:
        return iso_dirs[rr_dir]
    parent, _, name = rr_dir.rpartition("/")
    iso_parent = _ensure_directory(iso, parent, iso_dirs, used)
    # Readable ISO names where the name allows it (PAYLOADS), numbered ones otherwise.
    candidate = f"{iso_parent}/{name.upper()}"
    if not _ISO_DIR_NAME_RE.match(name.upper()) or candidate in used:
        candidate = f"{iso_parent}/D{len(used):04d}"
    used.add(candidate)
    iso.add_directory(candidate, rr_name=name, joliet_path="/" + rr_dir)
    iso_dirs[rr_dir] = candidate
    return candidate


class _CheckedStream(ReadOnlyStream):
    """Hashes what pycdlib copies into the image, so a payload that changed since it
    was measured (or came up short) fails the build instead of shipping silently."""

    def __init__(self, inner: BinaryIO, item: ImageFile, size: int) -> None:
        super().__init__()
        self._inner = inner
        self._item = item
        self._size = size
        self._digest = hashlib.sha256()
        self._count = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._inner.seek(offset, whence)
        # pycdlib seeks to 0 before copying; restart the running hash when it does.
        if position == 0:
            self._digest = hashlib.sha256()
            self._count = 0
        return position

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._digest.update(data)
        self._count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def check(self) -> None:
        if self._count != self._size or (
            self._item.expected_sha256 is not None
            and self._digest.hexdigest() != self._item.expected_sha256
        ):
            raise HashMismatchError(
                f"payload {self._item.path!r} changed while the bundle was being built"
            )
