"""The bundle on loopback HTTP for the emulated BMCs: the gateway's own media server.

The emulated BMCs fetch the image the way they would from a gateway: a
capability URL on `gateway.media.MediaServer` (Range, HEAD, sendfile),
serving exactly one file, the bundle the static checks verified. The URL
is a credential, so `scrub` removes it from anything the harness reports.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from gateway.media import (
    CapabilityGrant,
    CapabilitySigner,
    MediaError,
    MediaServer,
    ServableImage,
    media_url,
)
from lab.validate.errors import ValidateError

CHUNK_BYTES = 1 << 20
URL_LIFETIME_S = 24 * 3600


class SingleImageCatalog:
    """A `gateway.media.MediaCatalog` that serves one file, under its SHA-256, and nothing else."""

    def __init__(self, path: Path, sha256: str, size: int) -> None:
        self._image = ServableImage(path, size, sha256, sha256)

    def servable_image(self, grant: CapabilityGrant) -> ServableImage | None:
        return self._image if grant.image_sha256 == self._image.sha256 else None


class BundleServer:
    """Serve `path` on 127.0.0.1 (a free port) until `stop()`; use as a context manager.

    `url` is the capability URL BMCs are given; `chunks()` streams the
    file for multipart pushes. ValidateError if the file cannot be read or
    the server cannot start.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.size = path.stat().st_size
            self.sha256 = _sha256(path)
        except OSError as exc:
            raise ValidateError(f"cannot read bundle {path}: {exc.strerror}") from exc
        signer = CapabilitySigner([secrets.token_bytes(32)])
        self._server = MediaServer(signer, SingleImageCatalog(path, self.sha256, self.size))
        try:
            self._server.start()
        except MediaError as exc:
            raise ValidateError(f"cannot serve the bundle on loopback: {exc}") from exc
        port = self._server.bound_ports()["http"]
        token = signer.mint(CapabilityGrant(self.sha256, "validate", "matrix",
                                            int(time.time()) + URL_LIFETIME_S))
        self.url = media_url(f"http://127.0.0.1:{port}", token, "bundle.iso")

    def chunks(self) -> Iterator[bytes]:
        """The file in 1 MiB pieces (the multipart body; never held whole in memory)."""
        with self.path.open("rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk

    def scrub(self, text: str) -> str:
        """`text` with the capability URL replaced by "the bundle" (it is a credential)."""
        return text.replace(self.url, "the bundle")

    @property
    def bytes_served(self) -> int:
        """Body bytes the media server has sent so far."""
        return self._server.counters.snapshot().total_bytes

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> BundleServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
