"""One reader for bundles in local files and behind http(s) URLs.

pycdlib parses the ISO 9660 / Rock Ridge directory tree from a seekable
file-like object; we hand it ``_SourceFile`` over a ByteSource instead of
parsing directory records ourselves. pycdlib only touches the volume
descriptors, path tables and directory records while opening (a few 64 KiB
blocks for a bundle), and payload bytes are then read straight from the
extents it reports, so a remote inspect costs a few round trips and well
under 1 MB whatever the image size.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO, cast

import pycdlib
import requests
from pycdlib.pycdlibexception import PyCdlibException

from firmware_payloads import layout
from firmware_payloads.boot import BootImage
from firmware_payloads.errors import (
    BundleError,
    BundleFormatError,
    FetchError,
    ManifestTooLargeError,
    SignatureError,
    UnsafePathError,
)
from firmware_payloads.manifest import MAX_MANIFEST_BYTES, Manifest, Package
from firmware_payloads.safepaths import check_payload_path
from firmware_payloads.sources import ByteSource, FileSource, ReadOnlyStream, open_http_source

DEFAULT_MAX_STREAM_BYTES = 4 * 1024**3


class _SourceFile(ReadOnlyStream):
    """A read-only seekable file over a ByteSource, for pycdlib."""

    def __init__(self, source: ByteSource) -> None:
        super().__init__()
        self._source = source
        self._position = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._source.size}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        data = self._source.read_at(self._position, len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


@dataclass(frozen=True)
class BootEntry:
    """One El Torito boot catalog entry as firmware reads it.

    ``platform_id``: 0x00 x86 BIOS, 0xEF UEFI; ``load_rba``: the 2048-byte block
    firmware starts loading from; ``sector_count``: how many 512-byte sectors.
    """

    platform_id: int
    bootable: bool
    load_rba: int
    sector_count: int


class BundleReader:
    """An open bundle image. Not thread-safe; use one reader per thread.

    Attributes: ``source`` (path or URL as given), ``size`` (image bytes),
    ``manifest_bytes`` (exactly as signed), ``signature`` (64 raw bytes),
    ``bytes_transferred`` (read from disk/network so far).
    """

    def __init__(self, source: str, byte_source: ByteSource) -> None:
        self.source = source
        self._bytes = byte_source
        self._iso = pycdlib.PyCdlib()
        self._manifest: Manifest | None = None
        label = byte_source.label
        _check_primary_volume(byte_source)
        try:
            self._iso.open_fp(cast(BinaryIO, _SourceFile(byte_source)))
        except BundleError:
            raise  # I/O trouble from our own byte source, already one clear line
        except Exception as exc:
            # pycdlib parses untrusted bytes; on corrupt input it can fail with
            # struct.error, IndexError, UnicodeDecodeError, ... besides its own
            # exceptions. All of them mean the same thing to our caller.
            raise BundleFormatError(f"{label} is not a readable ISO 9660 image: {exc}") from exc
        manifest_record = self._record(
            layout.MANIFEST_RR, "manifest", " (not a fleetflash bundle?)"
        )
        manifest_length = manifest_record.get_data_length()
        if manifest_length > MAX_MANIFEST_BYTES:
            # Refuse before transferring it.
            raise ManifestTooLargeError(
                f"{label}: manifest is {manifest_length} bytes, over the "
                f"{MAX_MANIFEST_BYTES} byte limit"
            )
        self.manifest_bytes = self._read_record(manifest_record)
        signature_record = self._record(layout.SIGNATURE_RR, "manifest signature")
        if signature_record.get_data_length() != layout.SIGNATURE_BYTES:
            raise SignatureError(
                f"{label}: manifest signature is {signature_record.get_data_length()} bytes, "
                f"expected a {layout.SIGNATURE_BYTES}-byte Ed25519 signature"
            )
        self.signature = self._read_record(signature_record)

    @property
    def size(self) -> int:
        return self._bytes.size

    @property
    def bytes_transferred(self) -> int:
        return self._bytes.bytes_transferred

    @property
    def manifest(self) -> Manifest:
        """The manifest parsed from ``manifest_bytes``; NOT signature-verified.

        Raises the ManifestError family on first access if it is invalid.
        """
        if self._manifest is None:
            self._manifest = Manifest.from_json(self.manifest_bytes)
        return self._manifest

    def iter_payload(self, pkg: Package, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the bytes of ``pkg``'s file in the image (only its extent is read).

        Raises UnsafePathError for an unsafe path or a symlink, BundleFormatError
        when the file is missing or lies beyond the end of the image.
        """
        check_payload_path(pkg.path, package_id=pkg.id)
        record = self._record("/" + pkg.path, f"payload of package {pkg.id!r}")
        rock_ridge = record.rock_ridge
        if rock_ridge is not None and rock_ridge.is_symlink():
            raise UnsafePathError(f"payload of package {pkg.id!r} ({pkg.path}) is a symbolic link")
        if record.is_dir():
            raise BundleFormatError(f"payload of package {pkg.id!r} ({pkg.path}) is a directory")
        return self._bytes.iter_range(*self._extent(record), chunk_size)

    def boot_entries(self) -> tuple[BootEntry, ...]:
        """Every entry of the image's El Torito boot catalog; () when it has none."""
        catalog = self._iso.eltorito_boot_catalog
        if catalog is None:
            return ()
        default_platform = catalog.validation_entry.platform_id
        pairs = [(default_platform, catalog.initial_entry)]
        pairs += [(default_platform, entry) for entry in catalog.standalone_entries]
        pairs += [(section.platform_id, entry)
                  for section in catalog.sections for entry in section.section_entries]
        return tuple(
            BootEntry(int(platform), entry.boot_indicator == 0x88, int(entry.load_rba),
                      int(entry.sector_count))
            for platform, entry in pairs
        )

    def boot_image_extent(self, image: BootImage) -> tuple[int, int]:
        """(first 2048-byte block, length in bytes) of ``image``'s file in the image."""
        record = self._boot_record(image)
        return record.extent_location(), record.get_data_length()

    def iter_boot_image(self, image: BootImage, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the bytes of a boot image's file (at its fixed name under /fleetflash/boot)."""
        return self._bytes.iter_range(*self._extent(self._boot_record(image)), chunk_size)

    def _boot_record(self, image: BootImage) -> Any:
        rr_path = layout.BOOT_IMAGES[image.platform][1]
        record = self._record(rr_path, f"{image.platform} boot image")
        rock_ridge = record.rock_ridge
        if record.is_dir() or (rock_ridge is not None and rock_ridge.is_symlink()):
            raise BundleFormatError(f"{self._bytes.label}: {rr_path} is not a regular file")
        return record

    def read_payload(self, pkg: Package) -> bytes:
        """The whole payload in memory; prefer ``iter_payload`` for large ones."""
        return b"".join(self.iter_payload(pkg))

    def close(self) -> None:
        with contextlib.suppress(PyCdlibException):
            self._iso.close()
        self._bytes.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, rr_path: str, what: str, hint: str = "") -> Any:
        try:
            return self._iso.get_record(rr_path=rr_path)
        except PyCdlibException as exc:
            label = self._bytes.label
            raise BundleFormatError(f"{label} has no {what} at {rr_path}{hint}") from exc

    def _extent(self, record: Any) -> tuple[int, int]:
        offset = record.extent_location() * self._iso.logical_block_size
        length = record.get_data_length()
        if offset + length > self._bytes.size:
            raise BundleFormatError(
                f"{self._bytes.label} is truncated: a file ends at byte {offset + length} "
                f"but the image has {self._bytes.size}"
            )
        return offset, length

    def _read_record(self, record: Any) -> bytes:
        offset, length = self._extent(record)
        return self._bytes.read_at(offset, length)


def _check_primary_volume(byte_source: ByteSource) -> None:
    """Check the ISO 9660 primary volume descriptor (ECMA-119 8.4) and that the image
    holds as many bytes as it declares, so truncation gets its own clear message
    instead of whatever pycdlib trips over first."""
    label = byte_source.label
    descriptor = byte_source.read_at(layout.VOLUME_DESCRIPTORS_OFFSET, layout.ISO_BLOCK)
    if len(descriptor) < layout.ISO_BLOCK:
        raise BundleFormatError(
            f"{label} is truncated: {byte_source.size} bytes is too short for an ISO image"
        )
    # Type 1 (primary), standard identifier "CD001", version 1.
    if descriptor[:7] != b"\x01CD001\x01":
        raise BundleFormatError(f"{label} is not an ISO 9660 image (no primary volume descriptor)")
    # Volume space size (blocks) at byte 80, logical block size at 128; both-endian, LE first.
    space_blocks = int.from_bytes(descriptor[80:84], "little")
    block_size = int.from_bytes(descriptor[128:130], "little")
    declared = space_blocks * block_size
    if byte_source.size < declared:
        raise BundleFormatError(
            f"{label} is truncated: the image declares {declared} bytes "
            f"but only {byte_source.size} are present"
        )


def open_bundle(
    source: str | os.PathLike[str],
    *,
    max_stream_bytes: int = DEFAULT_MAX_STREAM_BYTES,
    timeout: float = 30.0,
    session: requests.Session | None = None,
) -> BundleReader:
    """Open a bundle from a local path or an http(s) URL.

    URLs are read with HTTP Range requests; when the server ignores Range the
    image is streamed once into a temporary file, capped at ``max_stream_bytes``
    (SizeLimitError beyond). ``timeout`` is per HTTP request, in seconds.
    Raises FetchError, BundleFormatError, ManifestTooLargeError, SignatureError.
    """
    text = os.fspath(source)
    byte_source: ByteSource
    if text.startswith(("http://", "https://")):
        byte_source = open_http_source(
            text, max_stream_bytes=max_stream_bytes, timeout=timeout, session=session
        )
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise FetchError(f"unsupported URL scheme {scheme!r}: use a local path, http:// or https://")
    else:
        byte_source = FileSource(text)
    try:
        return BundleReader(text, byte_source)
    except BaseException:
        byte_source.close()
        raise
