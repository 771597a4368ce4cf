"""Random-access byte sources for the reader: a local file, an HTTP(S) URL read
through Range requests, or a spooled copy when a server ignores Range.

Each source counts ``bytes_transferred`` (bytes actually read from disk or
received from the network) so callers can show what a remote read cost.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from firmware_payloads.errors import FetchError, SizeLimitError

log = logging.getLogger(__name__)

# 64 KiB blocks: the ISO volume descriptors, path tables, directory records and
# the manifest of a fleetflash bundle all sit in the first few blocks.
HTTP_BLOCK = 64 * 1024
HTTP_CACHE_BLOCKS = 32
# The first request fetches this many blocks: enough for the descriptors,
# directory records, manifest and signature of a typical bundle in one round trip.
HTTP_PROBE_BLOCKS = 2
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_STREAM_CHUNK = 1 << 20
# A request that failed to connect, or whose connection was reset before an answer came,
# is sent again after these pauses (seconds): a busy server's full accept queue, or a pooled
# keep-alive connection it closed a moment earlier. Every request here is a GET, so a
# second one is harmless. Not urllib3's Retry: it would retry read timeouts too (tripling
# the per-request timeout) and would have to be mounted on sessions the caller owns.
CONNECT_RETRY_PAUSES_S = (0.1, 0.5, 1.5)


class ByteSource(Protocol):
    """Random access to an image of ``size`` bytes."""

    label: str
    size: int
    bytes_transferred: int

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (short only at end of image)."""
        ...

    def iter_range(self, offset: int, length: int, chunk_size: int) -> Iterator[bytes]:
        """Exactly ``length`` bytes from ``offset``, in chunks; FetchError if the image ends."""
        ...

    def close(self) -> None: ...


def display_url(url: str) -> str:
    """The URL without user:password, safe for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class FileSource:
    """A local image file."""

    def __init__(self, path: str | os.PathLike[str], label: str | None = None) -> None:
        self.label = label or str(path)
        try:
            self._handle: IO[bytes] = Path(path).open("rb")  # noqa: SIM115 - closed in close()
            self.size = os.fstat(self._handle.fileno()).st_size
        except OSError as exc:
            raise FetchError(f"cannot open bundle {self.label}: {exc.strerror}") from exc
        self.bytes_transferred = 0
        self._count_reads = True

    def read_at(self, offset: int, length: int) -> bytes:
        try:
            self._handle.seek(offset)
            data = self._handle.read(max(0, length))
        except OSError as exc:
            raise FetchError(f"cannot read bundle {self.label}: {exc.strerror}") from exc
        if self._count_reads:
            self.bytes_transferred += len(data)
        return data

    def iter_range(self, offset: int, length: int, chunk_size: int) -> Iterator[bytes]:
        end = offset + length
        position = offset
        while position < end:
            data = self.read_at(position, min(chunk_size, end - position))
            if not data:
                raise FetchError(f"bundle {self.label} ended at byte {position}, expected {end}")
            position += len(data)
            yield data

    def close(self) -> None:
        self._handle.close()


class SpooledSource(FileSource):
    """A whole image downloaded into a temporary file (server ignored Range).

    ``bytes_transferred`` is the download size; re-reading the spool is free.
    """

    def __init__(self, spool: IO[bytes], label: str, downloaded: int) -> None:
        super().__init__(spool.name, label=label)
        self._spool = spool
        self._count_reads = False
        self.bytes_transferred = downloaded

    def close(self) -> None:
        super().close()
        self._spool.close()


class HttpRangeSource:
    """An image behind an http(s) URL, read with Range requests and a small block cache.

    Construct through ``open_http_source``, which probes Range support.
    """

    def __init__(
        self, url: str, size: int, session: requests.Session, timeout: float, owns_session: bool
    ) -> None:
        self.url = url
        self.label = display_url(url)
        self.size = size
        self.bytes_transferred = 0
        self._session = session
        self._timeout = timeout
        self._owns_session = owns_session
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def remember_block(self, index: int, data: bytes) -> None:
        self._blocks[index] = data
        self._blocks.move_to_end(index)
        while len(self._blocks) > HTTP_CACHE_BLOCKS:
            self._blocks.popitem(last=False)

    def read_at(self, offset: int, length: int) -> bytes:
        end = min(offset + max(0, length), self.size)
        if offset >= end:
            return b""
        first, last = offset // HTTP_BLOCK, (end - 1) // HTTP_BLOCK
        blocks: dict[int, bytes] = {}
        for index in range(first, last + 1):
            if index in self._blocks:
                self._blocks.move_to_end(index)
                blocks[index] = self._blocks[index]
        missing = [index for index in range(first, last + 1) if index not in blocks]
        if missing:
            # One request covers every missing block, so a cold read is one round trip.
            start = missing[0] * HTTP_BLOCK
            stop = min((missing[-1] + 1) * HTTP_BLOCK, self.size)
            data = b"".join(self._get_range(start, stop - start, _STREAM_CHUNK))
            for index in range(missing[0], missing[-1] + 1):
                block_start = index * HTTP_BLOCK - start
                blocks[index] = data[block_start : block_start + HTTP_BLOCK]
                self.remember_block(index, blocks[index])
        joined = b"".join(blocks[index] for index in range(first, last + 1))
        skip = offset - first * HTTP_BLOCK
        return joined[skip : skip + (end - offset)]

    def iter_range(self, offset: int, length: int, chunk_size: int) -> Iterator[bytes]:
        if offset + length > self.size:
            raise FetchError(f"bundle {self.label} ends before byte {offset + length}")
        if length > 0:
            yield from self._get_range(offset, length, chunk_size)

    def _get_range(self, offset: int, length: int, chunk_size: int) -> Iterator[bytes]:
        headers = {"Range": f"bytes={offset}-{offset + length - 1}", "Accept-Encoding": "identity"}
        with _http_get(self._session, self.url, self.label, headers, self._timeout) as response:
            if response.status_code != 206:
                raise FetchError(
                    f"server for {self.label} answered HTTP {response.status_code} "
                    "to a Range request it accepted before"
                )
            match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise FetchError(f"server for {self.label} returned the wrong byte range")
            if match.group(3) != str(self.size):
                raise FetchError(f"bundle at {self.label} changed size while being read")
            received = 0
            for chunk in _iter_body(response, self.label, chunk_size):
                received += len(chunk)
                self.bytes_transferred += len(chunk)
                yield chunk
            if received != length:
                raise FetchError(
                    f"server for {self.label} sent {received} of {length} bytes requested"
                )

    def close(self) -> None:
        self._blocks.clear()
        if self._owns_session:
            self._session.close()


def open_http_source(
    url: str, *, max_stream_bytes: int, timeout: float, session: requests.Session | None
) -> FileSource | HttpRangeSource:
    """Probe ``url`` with a Range request for the first HTTP_PROBE_BLOCKS blocks.

    206 → an HttpRangeSource. 200 (Range ignored) → the body is streamed into a
    temporary file, at most ``max_stream_bytes`` bytes (SizeLimitError beyond),
    and read from there. Other statuses and connection failures → FetchError.
    """
    label = display_url(url)
    owns_session = session is None
    http = session or requests.Session()
    probe_bytes = HTTP_PROBE_BLOCKS * HTTP_BLOCK
    headers = {"Range": f"bytes=0-{probe_bytes - 1}", "Accept-Encoding": "identity"}
    try:
        with _http_get(http, url, label, headers, timeout) as response:
            if response.status_code == 206:
                match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
                if match is None or match.group(3) == "*" or int(match.group(1)) != 0:
                    raise FetchError(f"server for {label} sent an unusable Content-Range header")
                source = HttpRangeSource(url, int(match.group(3)), http, timeout, owns_session)
                head = b"".join(_iter_body(response, label, probe_bytes))
                source.bytes_transferred += len(head)
                for index in range(HTTP_PROBE_BLOCKS):
                    block = head[index * HTTP_BLOCK : (index + 1) * HTTP_BLOCK]
                    if block:
                        source.remember_block(index, block)
                return source
            if response.status_code == 200:
                log.warning("%s does not honour HTTP Range; streaming the whole image", label)
                spool = _spool_body(response, label, max_stream_bytes)
                if owns_session:
                    http.close()
                return spool
            if response.status_code == 416:
                raise FetchError(f"bundle at {label} is empty (HTTP 416)")
            raise FetchError(f"cannot fetch bundle {label}: HTTP {response.status_code}")
    except BaseException:
        if owns_session:
            http.close()
        raise


def _http_get(
    session: requests.Session, url: str, label: str, headers: dict[str, str], timeout: float
) -> requests.Response:
    for attempt, pause in enumerate((*CONNECT_RETRY_PAUSES_S, None), start=1):
        try:
            return session.get(url, headers=headers, stream=True, timeout=timeout)
        except requests.Timeout as exc:
            raise FetchError(
                f"cannot fetch bundle {label}: timed out after {timeout:g} s") from exc
        except requests.exceptions.SSLError as exc:  # a ConnectionError, but not transient
            raise FetchError(f"cannot fetch bundle {label}: TLS failed "
                             "(is the server's certificate trusted?)") from exc
        except requests.ConnectionError as exc:
            if pause is None:
                raise FetchError(f"cannot fetch bundle {label}: connection failed "
                                 f"({attempt} attempts)") from exc
            log.info("%s: connection failed (%s); trying again in %g s", label,
                     type(exc).__name__, pause)
            time.sleep(pause)
        except requests.RequestException as exc:
            raise FetchError(f"cannot fetch bundle {label}: {type(exc).__name__}") from exc
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _iter_body(response: requests.Response, label: str, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from response.iter_content(chunk_size)
    except requests.RequestException as exc:
        raise FetchError(f"download of bundle {label} failed: {type(exc).__name__}") from exc


def _spool_body(response: requests.Response, label: str, max_bytes: int) -> SpooledSource:
    """Stream a whole response body into an anonymous temporary file, capped at ``max_bytes``."""
    declared = response.headers.get("Content-Length")
    too_big = SizeLimitError(
        f"server for {label} ignores HTTP Range and the image exceeds the "
        f"{max_bytes} byte streaming cap"
    )
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    # Closed by SpooledSource.close(); deleted by the OS when closed.
    spool = tempfile.NamedTemporaryFile(prefix="fleetflash-bundle-", suffix=".iso")  # noqa: SIM115
    received = 0
    try:
        for chunk in _iter_body(response, label, _STREAM_CHUNK):
            received += len(chunk)
            if received > max_bytes:
                raise too_big
            spool.write(chunk)
        spool.flush()
        return SpooledSource(spool, label, received)
    except BaseException:
        spool.close()
        raise


class ReadOnlyStream(io.RawIOBase):
    """A readable, seekable raw stream for pycdlib, which reads images and payloads
    through file objects; subclasses give ``seek`` and ``readinto``."""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True
