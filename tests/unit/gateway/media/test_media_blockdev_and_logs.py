"""Small pure pieces: the block-device file view and nginx access-log ingestion."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from gateway.media.nginx import ingest_access_log
from gateway.media.transfer_stats import TransferCounters
from gateway.media.usb.blockdev import UsbBlockDevice


class DiskImage:
    """A BlockReader over bytes in memory, counting commands like a key would."""

    def __init__(self, data: bytes, block_size: int = 512) -> None:
        self.data = data
        self.block_size = block_size
        self.block_count = len(data) // block_size
        self.commands = 0

    def read_blocks(self, lba: int, count: int) -> bytes:
        assert lba >= 0 and lba + count <= self.block_count
        self.commands += 1
        return self.data[lba * self.block_size:(lba + count) * self.block_size]


@pytest.mark.parametrize(("offset", "length"), [
    (0, 1), (0, 512), (511, 2), (1000, 70_000), (5, 0), (1_048_000, 1000), (1_048_575, 10),
])
def test_media_block_device_reads_any_byte_range(offset: int, length: int) -> None:
    data = os.urandom(1 << 20)
    device = UsbBlockDevice(DiskImage(data))
    device.seek(offset)
    assert device.read(length) == data[offset:offset + length]
    assert device.tell() == min(offset + length, len(data))


def test_media_block_device_small_reads_share_one_command() -> None:
    disk = DiskImage(os.urandom(1 << 20))
    reader = io.BufferedReader(UsbBlockDevice(disk), buffer_size=512)
    for _ in range(100):
        reader.read(32)  # directory-entry sized reads, as a FAT parser does
    assert disk.commands == 1


def test_media_block_device_is_read_only_and_bounded() -> None:
    device = UsbBlockDevice(DiskImage(bytes(4096)))
    assert not device.writable()
    assert device.seek(0, os.SEEK_END) == 4096 and device.read(10) == b""
    with pytest.raises(ValueError):
        device.seek(-1)


def test_media_nginx_access_log_is_counted_per_image_and_node(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        "1.0 img1 camp-1 bmc-1 206 4096\n"
        "1.1 img1 camp-1 bmc-2 200 1000\n"
        "1.2 - - - 404 10\n"  # refused: not counted
        "garbage line\n"
        "1.3 img1 camp-1 bmc-1 206 96\n"
        "1.4 img1 camp-1 bmc-1 206 12",  # still being written: left for next time
        encoding="utf-8")
    counters = TransferCounters()
    offset = ingest_access_log(log, counters)
    snapshot = counters.snapshot()
    assert snapshot.per_node == {("camp-1", "bmc-1"): 4192, ("camp-1", "bmc-2"): 1000}
    with log.open("a", encoding="utf-8") as stream:
        stream.write("0\n")
    ingest_access_log(log, counters, offset)
    assert counters.snapshot().per_image == {"img1": 4192 + 1000 + 120}
