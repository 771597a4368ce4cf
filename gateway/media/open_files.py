"""One open file per image, shared by every plain-HTTP reader of it.

os.sendfile(2) reads at an explicit offset and never moves the file position, so
any number of readers can send from one descriptor. Sharing it keeps the media
server at one descriptor per connection instead of two: 10,000 BMCs reading the
same CD need 10,000 descriptors, not 20,000. (TLS readers go through asyncio's
read/encrypt loop, which uses the file position: they keep their own file.)
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass
class _Shared:
    stream: BinaryIO
    users: int


class SharedFiles:
    """Reference-counted open files by path; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, _Shared] = {}

    def acquire(self, path: Path, size: int) -> BinaryIO | None:
        """The shared open file of `path`, or None when its size is not `size` (the file
        changed after verification). Raises OSError when it cannot be opened."""
        with self._lock:
            shared = self._files.get(path)
            if shared is None:
                stream = path.open("rb")
                shared = self._files[path] = _Shared(stream, 0)
            if os.fstat(shared.stream.fileno()).st_size != size:
                if shared.users == 0:
                    shared.stream.close()
                    del self._files[path]
                return None
            shared.users += 1
            return shared.stream

    def release(self, path: Path) -> None:
        with self._lock:
            shared = self._files.get(path)
            if shared is None:
                return
            shared.users -= 1
            if shared.users <= 0:
                shared.stream.close()
                del self._files[path]

    def open_count(self) -> int:
        with self._lock:
            return len(self._files)
