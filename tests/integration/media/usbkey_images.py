"""Building USB key images for tests: FAT volumes written with pyfatfs, or a bare ISO.

pyfatfs's PyFatFS layer needs pyfilesystem2 (and pkg_resources), so files are
added with PyFat's own directory-entry API, as PyFatFS.create does.
"""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

from pyfatfs.EightDotThree import EightDotThree
from pyfatfs.FATDirectoryEntry import FATDirectoryEntry, make_lfn_entry
from pyfatfs.PyFat import PyFat

SECTOR = 512


def make_fat_key(path: Path, files: dict[str, bytes], *, size: int = 48 * 1024 * 1024,
                 partition_offset: int = 0, fat32: bool = False) -> Path:
    """A FAT16 (or FAT32) key image with `files` in its root directory.

    partition_offset > 0 puts the volume in MBR partition 1 at that byte offset.
    """
    with path.open("wb") as stream:
        stream.truncate(size)
    volume = PyFat(offset=partition_offset)
    volume.mkfs(str(path), PyFat.FAT_TYPE_FAT32 if fat32 else PyFat.FAT_TYPE_FAT16,
                size=size - partition_offset,
                label="FLEETKEY")
    volume.close()
    volume = PyFat(offset=partition_offset)
    volume.open(str(path))
    root = volume.root_dir
    for name, data in files.items():
        short = EightDotThree(encoding=volume.encoding)
        short.set_str_name(short.make_8dot3_name(name, root))
        entry = FATDirectoryEntry.new(name=short, tz=datetime.UTC, encoding=volume.encoding)
        if short.get_unpadded_filename() != name:
            entry.set_lfn_entry(make_lfn_entry(name, short))
        if data:
            first = volume.allocate_bytes(len(data))[0]
            volume.write_data_to_cluster(data, first)
            entry.set_cluster(first)
            entry.filesize = len(data)
        root.add_subdirectory(entry)
        volume.update_directory_entry(root)
    volume.flush_fat()
    volume.close()
    if partition_offset:
        _write_mbr(path, partition_offset, size)
    return path


def _write_mbr(path: Path, offset: int, size: int) -> None:
    sector = bytearray(SECTOR)
    entry = bytearray(16)
    entry[4] = 0x06  # FAT16
    entry[8:12] = (offset // SECTOR).to_bytes(4, "little")
    entry[12:16] = ((size - offset) // SECTOR).to_bytes(4, "little")
    sector[446:462] = entry
    sector[510:512] = b"\x55\xaa"
    with path.open("r+b") as stream:
        stream.write(sector)


def make_iso_key(path: Path, bundle: Path, *, size: int | None = None) -> Path:
    """A key whose blocks are the bundle ISO itself (padded to whole 512-byte blocks)."""
    shutil.copyfile(bundle, path)
    length = path.stat().st_size
    target = size or -(-length // SECTOR) * SECTOR
    with path.open("r+b") as stream:
        stream.truncate(max(target, length))
    return path
