"""Serve bundle images over HTTP with Range support (the publisher's web site).

`GET /bundles/<name>` serves the image (werkzeug's conditional send_file:
Range, If-Range, ETag); `GET /bundles/<name>.manifest.json` serves the
manifest exactly as signed (what an alert's ManifestURI points at).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, abort, request, send_file
from werkzeug.serving import BaseWSGIServer, make_server

import firmware_payloads as fp

LOG = logging.getLogger(__name__)
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class AccessRecord:
    """One answered request: path, Range header (None when absent), status, body length."""

    path: str
    range: str | None
    status: int
    length: int | None


def create_app(bundles: dict[str, Path], log: list[AccessRecord] | None = None) -> Flask:
    """A Flask app serving the given {file name: path} bundles; appends to `log`."""
    app = Flask(__name__)
    manifests: dict[str, bytes] = {}

    @app.after_request
    def remember(response: Response) -> Response:
        if log is not None:
            log.append(AccessRecord(request.path, request.headers.get("Range"),
                                    response.status_code, response.content_length))
        return response

    @app.get("/bundles/<name>")
    def bundle(name: str) -> Response:
        if name.endswith(MANIFEST_SUFFIX):
            image = bundles.get(name[: -len(MANIFEST_SUFFIX)])
            if image is None:
                abort(404)
            if name not in manifests:
                with fp.open_bundle(image) as reader:
                    manifests[name] = reader.manifest_bytes
            return Response(manifests[name], mimetype="application/json")
        path = bundles.get(name)
        if path is None:
            abort(404)
        return send_file(path, mimetype="application/octet-stream", conditional=True,
                         etag=True, max_age=0)

    return app


class BundleServer:
    """A threaded HTTP server for bundles on `host`:`port` (0 picks a free port)."""

    def __init__(self, bundles: list[Path], host: str = "127.0.0.1", port: int = 0) -> None:
        self.bundles = {Path(p).name: Path(p).resolve() for p in bundles}
        self.access_log: list[AccessRecord] = []
        self._server: BaseWSGIServer = make_server(
            host, port, create_app(self.bundles, self.access_log), threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """URL prefix under which bundles are served, ending in '/bundles/'."""
        host = self._server.server_address[0]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{self._server.server_port}/bundles/"

    def url_for(self, bundle: Path | str) -> str:
        """URL of a served bundle."""
        return self.base_url + Path(bundle).name

    def start(self) -> BundleServer:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="publisher",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> BundleServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
