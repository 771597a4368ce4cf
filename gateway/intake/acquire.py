"""Acquire one image: learn its manifest, stream it into the cache, verify, publish.

Transient faults (connection refused or dropped, 5xx, a cache that is full
for now) raise AcquisitionError(permanent=False): the partial file stays and
the next attempt resumes it with an HTTP Range request (If-Range on the
server's ETag, so a changed file restarts from zero). Wrong bytes or a bad
signature raise AcquisitionError(permanent=True); nothing becomes visible.
Redirects are never followed: an allowed prefix must not lead elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path

import requests
import urllib3

import firmware_payloads as fp
from gateway.config import SourceConfig
from gateway.intake.errors import AcquisitionError
from gateway.intake.trust import uri_allowed
from gateway.media.cache import CacheFullError, DigestMismatchError, ImageCache
from gateway.store import ImageRecord

LOG = logging.getLogger(__name__)
CHUNK_BYTES = 1 << 20
MAX_MANIFEST_FETCH = fp.MAX_MANIFEST_BYTES
TIMEOUT = (10.0, 30.0)  # connect, read (seconds)

# Called with progress fields (size_bytes, etag, manifest_json, manifest_verified);
# returns False when the worker must stop (lease lost or image withdrawn).
Progress = Callable[..., bool]


def new_session() -> requests.Session:
    """An HTTP session that refuses redirects (see module docstring)."""
    session = requests.Session()
    session.max_redirects = 0
    session.headers["User-Agent"] = "fleetflash-gateway"
    return session


class ImageAcquirer:
    """Fetches and verifies images for the worker; one instance per worker thread."""

    def __init__(self, cache: ImageCache, pinned: Callable[[], Collection[str]],
                 session: requests.Session | None = None) -> None:
        self.cache = cache
        self._pinned = pinned
        self._session = session or new_session()

    def acquire(self, image: ImageRecord, source: SourceConfig, progress: Progress,
                cancelled: Callable[[], bool] = lambda: False) -> str:
        """Bring `image` into the cache verified. Returns the verified manifest JSON
        (from inside the image). `cancelled` is polled between chunks (shutdown).
        Raises AcquisitionError."""
        existing = self.cache.verified_path(image.sha256)
        if existing is not None:
            return verified_manifest(existing, image, source)
        for uri in (image.image_uri, image.manifest_uri):
            problem = uri and uri_allowed(uri, source.image_uri_prefixes)
            if problem:
                raise AcquisitionError(f"{uri}: {problem}", permanent=True)
        if image.manifest_json is None:
            self._learn_manifest(image, source, progress)
        self._download(image, progress, cancelled)
        return self._publish(image, source)

    # -- ask for more ----------------------------------------------------------

    def _learn_manifest(self, image: ImageRecord, source: SourceConfig,
                        progress: Progress) -> None:
        """Read the manifest from ManifestURI, else from the remote ISO via ranges."""
        if image.manifest_uri:
            raw = self._get_small(image.manifest_uri)
            try:
                manifest = fp.Manifest.from_json(raw)
            except fp.BundleError as exc:
                raise AcquisitionError(f"manifest at ManifestURI: {exc}", permanent=True) from exc
            verified = False
        else:
            try:
                with fp.open_bundle(image.image_uri, session=self._session,
                                    timeout=TIMEOUT[1]) as reader:
                    raw = reader.manifest_bytes
                    # The signature travels with the manifest, so a forged image is
                    # refused before its bulk is downloaded.
                    manifest = fp.verify_manifest(raw, reader.signature, source.trusted_keys)
            except fp.FetchError as exc:
                if isinstance(exc.__cause__, requests.TooManyRedirects):
                    raise AcquisitionError(f"{image.image_uri}: redirect refused (an allowed "
                                           "prefix must not lead elsewhere)",
                                           permanent=True) from exc
                raise AcquisitionError(str(exc), permanent=False) from exc
            except fp.BundleError as exc:
                raise AcquisitionError(str(exc), permanent=True) from exc
            verified = True
        _check_bundle_id(manifest, image)
        if not progress(manifest_json=raw.decode("utf-8"), manifest_verified=verified):
            raise AcquisitionError("acquisition stopped (lease lost or image withdrawn)",
                                   permanent=False)

    def _get_small(self, uri: str) -> bytes:
        try:
            with self._session.get(uri, stream=True, timeout=TIMEOUT,
                                   allow_redirects=False) as response:
                _check_status(response, uri)
                body = bytearray()
                for chunk in response.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_MANIFEST_FETCH:
                        raise AcquisitionError(
                            f"{uri}: manifest larger than {MAX_MANIFEST_FETCH} bytes",
                            permanent=True)
                return bytes(body)
        except requests.RequestException as exc:
            raise AcquisitionError(f"{uri}: {_describe(exc)}", permanent=False) from exc

    # -- download with resume ------------------------------------------------

    def _download(self, image: ImageRecord, progress: Progress,
                  cancelled: Callable[[], bool]) -> None:
        sha = image.sha256
        offset = self.cache.partial_size(sha)
        if image.size_bytes is not None and offset > image.size_bytes:
            self.cache.discard_partial(sha)
            offset = 0
        if image.size_bytes is not None and offset == image.size_bytes:
            return  # finished before a restart; only verification is left
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if image.etag:
                headers["If-Range"] = image.etag
        uri = image.image_uri
        try:
            with self._session.get(uri, headers=headers, stream=True, timeout=TIMEOUT,
                                   allow_redirects=False) as response:
                if response.status_code == 416 and offset:
                    self.cache.discard_partial(sha)  # our partial no longer fits the file
                    raise AcquisitionError(f"{uri}: range not satisfiable; restarting",
                                           permanent=False)
                _check_status(response, uri)
                resume = response.status_code == 206
                total: int | None
                if resume:
                    total = _total_from_content_range(response, offset, uri)
                else:
                    offset = 0
                    total = _int_header(response, "Content-Length")
                if total is None:
                    raise AcquisitionError(f"{uri}: server did not say how big the image is",
                                           permanent=False)
                self._reserve(total - offset, sha)
                etag = response.headers.get("ETag")
                if not progress(size_bytes=total, etag=etag):
                    raise AcquisitionError("acquisition stopped (lease lost or image withdrawn)",
                                           permanent=False)
                self._stream(response, sha, resume=resume, expected=total - offset,
                             progress=progress, cancelled=cancelled)
        except requests.RequestException as exc:
            raise AcquisitionError(f"{uri}: {_describe(exc)}", permanent=False) from exc
        except urllib3.exceptions.HTTPError as exc:  # raised by raw reads mid-body
            raise AcquisitionError(f"{uri}: download truncated ({exc.__class__.__name__}); "
                                   "will resume", permanent=False) from exc

    def _reserve(self, needed: int, sha: str) -> None:
        try:
            self.cache.make_room(needed, pinned=set(self._pinned()) | {sha})
        except CacheFullError as exc:
            raise AcquisitionError(str(exc), permanent=False) from exc

    def _stream(self, response: requests.Response, sha: str, *, resume: bool, expected: int,
                progress: Progress, cancelled: Callable[[], bool]) -> None:
        written = 0
        last_report = time.monotonic()
        with self.cache.open_partial(sha, resume=resume) as partial:
            # read1 hands over whatever has arrived, so a dropped connection loses
            # nothing already received (iter_content would discard a partial chunk).
            while chunk := response.raw.read1(CHUNK_BYTES):
                written += len(chunk)
                if written > expected:
                    raise AcquisitionError("server sent more bytes than it announced",
                                           permanent=False)
                partial.write(chunk)
                if cancelled():
                    raise AcquisitionError("download interrupted by shutdown; will resume",
                                           permanent=False)
                if time.monotonic() - last_report > 5.0:
                    last_report = time.monotonic()
                    partial.flush()
                    if not progress():
                        raise AcquisitionError("acquisition stopped (lease lost or withdrawn)",
                                               permanent=False)
        if written < expected:
            raise AcquisitionError(
                f"download truncated: got {written} of {expected} bytes; will resume",
                permanent=False)

    # -- verify and publish ----------------------------------------------------

    def _publish(self, image: ImageRecord, source: SourceConfig) -> str:
        verified: list[str] = []

        def verify(path: Path) -> None:
            verified.append(verified_manifest(path, image, source, check_payloads=True))

        try:
            self.cache.promote(image.sha256, verify)
        except DigestMismatchError as exc:
            raise AcquisitionError(str(exc), permanent=True) from exc
        return verified[0]



def verified_manifest(path: Path, image: ImageRecord, source: SourceConfig, *,
                      check_payloads: bool = False) -> str:
    """The manifest (JSON text) of the bundle at `path` once its signature checks with
    `source`'s trusted keys and it is the bundle `image` announced. Raises
    AcquisitionError (permanent) otherwise. Also used for an image read from a peer."""
    try:
        with fp.open_bundle(path) as reader:
            manifest = fp.verify_bundle(reader, source.trusted_keys,
                                        check_payloads=check_payloads)
            raw = reader.manifest_bytes
    except fp.BundleError as exc:
        raise AcquisitionError(f"image failed verification: {exc}", permanent=True) from exc
    _check_bundle_id(manifest, image)
    return raw.decode("utf-8")


def _check_bundle_id(manifest: fp.Manifest, image: ImageRecord) -> None:
    if manifest.bundle_id != image.bundle_id:
        raise AcquisitionError(
            f"manifest bundle_id {manifest.bundle_id!r} does not match the alert's BundleID "
            f"{image.bundle_id!r}", permanent=True)


def _check_status(response: requests.Response, uri: str) -> None:
    if response.status_code in (200, 206):
        return
    permanent = response.status_code in (301, 302, 303, 307, 308, 401, 403, 404, 410)
    what = "redirect refused" if 300 <= response.status_code < 400 else "HTTP error"
    raise AcquisitionError(f"{uri}: {what} {response.status_code}", permanent=permanent)


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name, "")
    return int(value) if value.isdigit() else None


def _total_from_content_range(response: requests.Response, offset: int, uri: str) -> int:
    # Content-Range: bytes START-END/TOTAL
    value = response.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    span, _, total = rest.partition("/")
    start = span.partition("-")[0]
    if unit != "bytes" or not start.isdigit() or not total.isdigit() or int(start) != offset:
        raise AcquisitionError(f"{uri}: unusable Content-Range {value!r}", permanent=False)
    return int(total)


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.TooManyRedirects):
        return "redirect refused"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "download truncated: connection dropped mid-transfer; will resume"
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed ({exc.__class__.__name__})"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return exc.__class__.__name__
