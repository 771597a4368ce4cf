"""Finding update bundles on a key: the key is an ISO 9660 image, or FAT holding .iso files.

Read-only throughout. FAT is parsed with pyfatfs's PyFat over the key's block
device (PyFat.set_fp), either as a "superfloppy" (filesystem from block 0, what
mkfs.fat on a whole device makes) or in an MBR partition. File bytes are read
by following the cluster chain ourselves, with a visited set, so a corrupt FAT
with a cluster loop is an error instead of an endless read; directory chains are
checked the same way before pyfatfs follows them. (pyfatfs's PyFatFS/FatIO
layer is not used: it needs pyfilesystem2, which needs pkg_resources.)
"""

from __future__ import annotations

import logging
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pyfatfs.FATDirectoryEntry import FATDirectoryEntry
from pyfatfs.PyFat import PyFat

from gateway.media.usb.errors import KeyFilesystemError, NoBundleError, UsbKeyError

log = logging.getLogger(__name__)
ISO_PVD_OFFSET = 16 * 2048
_FAT_PARTITION_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E}
MAX_WALK_DEPTH = 4
MAX_BUNDLES = 32
READ_CHUNK = 1 << 20


class KeyDevice(Protocol):
    """The key's bytes as a seekable file (UsbBlockDevice, or an open disk image)."""

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def read(self, size: int = -1, /) -> bytes | None: ...


@dataclass(frozen=True)
class BundleOnKey:
    """A candidate bundle: `name` is "(whole key)" or its FAT path; size in bytes.

    first_cluster is the file's first FAT cluster (0 for the whole-key ISO).
    """

    name: str
    size: int
    fat_offset: int | None  # None: the key itself is the ISO image
    first_cluster: int = 0


def find_bundles(device: KeyDevice, device_size: int) -> list[BundleOnKey]:
    """List candidate bundles on the key (not yet verified).

    Raises NoBundleError when the key holds neither layout, KeyFilesystemError for a
    corrupt filesystem or ISO header, and lets USB errors (UsbKeyError) through.
    """
    iso_size = _iso_size(device, device_size)
    if iso_size is not None:
        return [BundleOnKey("(whole key)", iso_size, None)]
    offset = _fat_offset(device)
    if offset is None:
        raise NoBundleError("the USB key holds neither an ISO 9660 image nor a FAT filesystem")
    volume = _open_fat(device, offset)
    found: list[BundleOnKey] = []
    with _translated("the key's FAT filesystem is corrupt"):
        for path, entry in _walk_files(volume.root_dir, "", 0):
            if path.lower().endswith(".iso"):
                found.append(BundleOnKey(path, entry.filesize, offset, entry.get_cluster()))
            if len(found) > MAX_BUNDLES:
                raise KeyFilesystemError(f"more than {MAX_BUNDLES} .iso files on the key")
    if not found:
        raise NoBundleError("the USB key's FAT filesystem holds no .iso files")
    return found


def iter_bundle_bytes(device: KeyDevice, bundle: BundleOnKey) -> Iterator[bytes]:
    """The bundle's bytes in chunks of at most READ_CHUNK (file-system aware)."""
    if bundle.fat_offset is None:
        yield from _read_span(device, 0, bundle.size)
        return
    volume = _open_fat(device, bundle.fat_offset)
    cluster_bytes = volume.bytes_per_cluster
    needed = -(-bundle.size // cluster_bytes) if bundle.size else 0
    with _translated(f"{bundle.name} on the key is corrupt"):
        chain = _chain(volume, bundle.first_cluster, needed) if needed else []
        if len(chain) < needed:
            raise KeyFilesystemError(f"{bundle.name}: its cluster chain ends early")
        remaining = bundle.size
        for first, count in _runs(chain[:needed]):
            address = bundle.fat_offset + volume.get_data_cluster_address(first)
            length = min(count * cluster_bytes, remaining)
            yield from _read_span(device, address, length)
            remaining -= length


def _read_span(device: KeyDevice, offset: int, length: int) -> Iterator[bytes]:
    device.seek(offset)
    while length > 0:
        chunk = device.read(min(READ_CHUNK, length))
        if not chunk:
            raise KeyFilesystemError("the key ended before the bundle did")
        length -= len(chunk)
        yield chunk


def _read_at(device: KeyDevice, offset: int, length: int) -> bytes:
    device.seek(offset)
    return device.read(length) or b""


def _runs(chain: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive cluster numbers grouped, so contiguous files are read in big requests."""
    start = prev = chain[0]
    for cluster in chain[1:]:
        if cluster != prev + 1:
            yield start, prev - start + 1
            start = cluster
        prev = cluster
    yield start, prev - start + 1


def _chain(volume: PyFat, first: int, limit: int) -> list[int]:
    """The cluster chain from `first`, at most `limit` long; a loop or bad entry raises."""
    values = PyFat.FAT_CLUSTER_VALUES[volume.fat_type]
    chain: list[int] = []
    seen: set[int] = set()
    cluster = first
    while len(chain) < limit:
        if not values["MIN_DATA_CLUSTER"] <= cluster < len(volume.fat) or cluster in seen:
            raise KeyFilesystemError(
                f"the key's FAT filesystem is corrupt: broken cluster chain at cluster {cluster}")
        seen.add(cluster)
        chain.append(cluster)
        following = volume.fat[cluster]
        if following >= values["END_OF_CLUSTER_MIN"] or (
                volume.fat_type == PyFat.FAT_TYPE_FAT12 and following == PyFat.FAT12_SPECIAL_EOC):
            break
        cluster = following
    return chain


class _GuardedPyFat(PyFat):  # type: ignore[misc]
    """PyFat that refuses to follow a looping directory cluster chain."""

    def parse_dir_entries_in_cluster_chain(self, cluster: int) -> list[Any]:
        _chain(self, cluster, len(self.fat))
        return list(super().parse_dir_entries_in_cluster_chain(cluster))


def _open_fat(device: KeyDevice, offset: int) -> PyFat:
    volume = _GuardedPyFat(offset=offset)
    with _translated("the key's FAT filesystem is corrupt"), warnings.catch_warnings(record=True
                                                                                    ) as caught:
        warnings.simplefilter("always")
        volume.set_fp(device)
    for warning in caught:  # e.g. "FATs differ", "not cleanly unmounted": worth a log line
        log.warning("usb: FAT volume: %s", warning.message)
    return volume


def _walk_files(directory: FATDirectoryEntry, prefix: str, depth: int
                ) -> Iterator[tuple[str, FATDirectoryEntry]]:
    dirs, files, _ = directory.get_entries()
    for entry in files:
        yield f"{prefix}/{_name(entry)}", entry
    if depth < MAX_WALK_DEPTH:
        for entry in dirs:
            yield from _walk_files(entry, f"{prefix}/{_name(entry)}", depth + 1)


def _name(entry: FATDirectoryEntry) -> str:
    try:
        return str(entry.get_long_name())
    except Exception:  # pyfatfs raises NotAnLFNEntryException for 8.3-only names
        return str(entry.get_short_name())


class _translated:
    """Context manager: pyfatfs / struct errors -> KeyFilesystemError; ours pass through."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc is None or isinstance(exc, UsbKeyError | GeneratorExit):
            return
        if isinstance(exc, Exception):  # pyfatfs raises PyFATException, bare Exception, ...
            raise KeyFilesystemError(f"{self._what}: {exc}") from exc


def _iso_size(device: KeyDevice, device_size: int) -> int | None:
    descriptor = _read_at(device, ISO_PVD_OFFSET, 2048)
    if len(descriptor) < 2048 or descriptor[1:6] != b"CD001" or descriptor[0] != 1:
        return None
    blocks = int(struct.unpack_from("<I", descriptor, 80)[0])
    block_size = int(struct.unpack_from("<H", descriptor, 128)[0])
    if block_size not in (512, 1024, 2048) or blocks == 0:
        raise KeyFilesystemError("the ISO image on the key has a corrupt volume descriptor")
    size = blocks * block_size
    if size > device_size:
        raise KeyFilesystemError(
            f"the ISO image on the key claims {size} bytes but the key holds {device_size}")
    return size


def _fat_offset(device: KeyDevice) -> int | None:
    sector = _read_at(device, 0, 512)
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return None
    if _looks_like_fat_boot_sector(sector):
        return 0
    for index in range(4):  # MBR partition table at 446
        entry = sector[446 + 16 * index: 462 + 16 * index]
        kind, first_lba = entry[4], int(struct.unpack_from("<I", entry, 8)[0])
        if kind in _FAT_PARTITION_TYPES and first_lba:
            return first_lba * 512
    return None


def _looks_like_fat_boot_sector(sector: bytes) -> bool:
    bytes_per_sector = struct.unpack_from("<H", sector, 11)[0]
    return (sector[0] in (0xEB, 0xE9) and bytes_per_sector in (512, 1024, 2048, 4096)
            and (sector[54:57] == b"FAT" or sector[82:85] == b"FAT"))
