"""A USB key's blocks as a read-only, seekable binary file.

pyfatfs and the ISO probe want a file object; BulkOnlyDisk reads whole blocks.
This adaptor turns any byte range into block reads, with a small read-ahead so
the many tiny reads of a filesystem parser (directory entries, FAT sectors)
cost one USB command per READ_AHEAD_BYTES instead of one each.
"""

from __future__ import annotations

import io
import os
from typing import Protocol

READ_AHEAD_BYTES = 64 * 1024


class BlockReader(Protocol):
    """What the block device needs: whole-block reads and the geometry."""

    block_size: int
    block_count: int

    def read_blocks(self, lba: int, count: int) -> bytes:
        """`count` blocks from `lba`; raises on transport errors."""
        ...


class UsbBlockDevice(io.RawIOBase):
    """Read-only file view of a BlockReader. Size = block_size * block_count bytes."""

    def __init__(self, disk: BlockReader) -> None:
        super().__init__()
        self._disk = disk
        self.size = disk.block_size * disk.block_count
        self._pos = 0
        self._cache_start = 0
        self._cache = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence {whence}")
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(0, self.size - self._pos))
        done = 0
        while done < wanted:
            chunk = self._read_at(self._pos + done, wanted - done)
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
        self._pos += done
        return done

    def _read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset` (at least one byte while inside the key)."""
        cached_end = self._cache_start + len(self._cache)
        if self._cache_start <= offset < cached_end:
            start = offset - self._cache_start
            return self._cache[start:start + length]
        block = self._disk.block_size
        first = offset // block
        span = max(length, READ_AHEAD_BYTES)
        last = min((offset + span - 1) // block, self._disk.block_count - 1)
        data = self._disk.read_blocks(first, last - first + 1)
        self._cache_start, self._cache = first * block, data
        start = offset - self._cache_start
        return data[start:start + length]
