"""Thousands of slow readers at once: none refused, and a fast reader still gets its file.

The slow readers run in their own process (tests/support/slow_readers.py), like a
fleet of BMCs each reading a mounted CD at its own pace; the media server holds
them all with its default limits. Speed is measured in bench/front_door.py, not here.
"""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.api.metrics import GatewayMetrics
from gateway.media import CapabilitySigner, MediaServer, VerifiedDirectoryCatalog
from tests.integration.media.conftest import RunningMedia, write_image
from tests.support.slow_readers import ReaderProcess
from tests.support.waiting import wait_until

SLOW_READERS = 2000
SLOW_RATE = 64 * 1024  # bytes/s each: 128 MB/s in all, within what CI machines serve
# Readers that take more than the server can give them all keep their sockets
# writable, so the server always has every one of them to serve.
GREEDY_READERS, GREEDY_RATE = 300, 8 * 1024 * 1024
IMAGE_BYTES = 24 * 1024 * 1024 + 5  # longer than any slow reader gets through here


@pytest.fixture()
def big_media(tmp_path: Path) -> Iterator[RunningMedia]:
    data = os.urandom(IMAGE_BYTES)
    digest = write_image(tmp_path, data)
    signer = CapabilitySigner([os.urandom(32)])
    catalog = VerifiedDirectoryCatalog(tmp_path)
    server = MediaServer(signer, catalog)  # default limits: they must admit the fleet
    server.start()
    try:
        yield RunningMedia(server, signer, catalog, tmp_path, data, digest)
    finally:
        server.stop()


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.parametrize(("count", "rate"), [(SLOW_READERS, SLOW_RATE),
                                             (GREEDY_READERS, GREEDY_RATE)],
                         ids=["2000-slow-readers", "300-greedy-readers"])
def test_media_holds_many_readers_while_a_fast_reader_gets_its_whole_file(
        big_media: RunningMedia, count: int, rate: int) -> None:
    server = big_media.server
    paths = [big_media.path(node=f"bmc-{i}") for i in range(count)]
    readers = ReaderProcess(big_media.port, paths, rate, 600)
    try:
        before = wait_until(
            lambda: (report := readers.report())["receiving"] == count and report,
            timeout_s=120, describe=lambda: readers.report())
        assert server.stats().connections == count
        assert before["errors"] == []

        # One reader as fast as loopback allows, while all of them are mid-body.
        fast = http.client.HTTPConnection("127.0.0.1", big_media.port, timeout=120)
        fast.request("GET", big_media.path(node="fast-bmc"))
        response = fast.getresponse()
        assert response.status == 200
        digest = hashlib.sha256()
        while chunk := response.read(1 << 20):
            digest.update(chunk)
        fast.close()
        assert digest.hexdigest() == big_media.sha256

        # The other readers were neither cut off nor starved meanwhile: every one is
        # still connected and has received more than before.
        after = readers.report()
        assert after["errors"] == []
        assert after["receiving"] == count
        wait_until(lambda: readers.report()["min_reader_bytes"] > before["min_reader_bytes"],
                   timeout_s=60, describe="every slow reader receiving more")

        metrics = GatewayMetrics()
        metrics.watch_front_door("media", server.stats)
        wait_until(lambda: server.stats().connections == count)
        text = metrics.render().decode()
        assert _metric(text, 'fleetflash_front_door_connections{listener="media"}') == count
        in_flight = _metric(text, 'fleetflash_front_door_bytes_in_flight{listener="media"}')
        assert in_flight is not None and 0 < in_flight <= count * IMAGE_BYTES
        assert "fleetflash_front_door_refusals_total{" not in text  # nothing refused
        assert server.stats().refusals == {}
        assert server.peak_connections == count + 1
    finally:
        final = readers.finish(stop=True)
    assert final["errors"] == []
