"""Project-wide fixtures: test signing keys, sample and crafted bundles, and
real HTTP servers on 127.0.0.1 that serve bundle images.

- ``test_keys``: paths of the committed TEST-ONLY key pairs (see tests/keys/README.md).
- ``sample_bundle``: the sample quarterly spec built and signed once per session (Path).
- ``bundle_factory``: build a (possibly tampered) bundle from a spec dict (Path).
- ``http_bundle_server`` / ``http_bundle_server_no_range``: serve a directory over
  HTTP with / without Range support; return a ServedDirectory (``url(name)``,
  ``requests`` log, ``bytes_sent``).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, Response, abort, send_from_directory
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.utils import safe_join

from firmware_payloads import BundleSpec, build_bundle, load_private_key, load_public_key
from firmware_payloads.build import ImageFile, manifest_from_spec, write_image
from firmware_payloads.manifest import canonical_json
from firmware_payloads.spec import BytesPayload, PayloadSource

# Throwaway PostgreSQL server and the SQLite/PostgreSQL-parametrized `database_url`.
pytest_plugins = ["tests.support.postgres"]

REPO_ROOT = Path(__file__).resolve().parent.parent
KEYS_DIR = Path(__file__).resolve().parent / "keys"
SAMPLE_SPEC = REPO_ROOT / "firmware_payloads" / "samples" / "quarterly-2026q4.yaml"


@dataclass(frozen=True)
class TestKeys:
    """Paths of the TEST-ONLY key pairs; ``other_*`` is an unrelated pair for wrong-key tests."""

    __test__ = False  # not a test class, despite the name

    private: Path
    public: Path
    other_private: Path
    other_public: Path

    def private_key(self) -> Ed25519PrivateKey:
        return load_private_key(self.private)

    def public_key(self) -> Ed25519PublicKey:
        return load_public_key(self.public)


@pytest.fixture(scope="session")
def test_keys() -> TestKeys:
    return TestKeys(
        private=KEYS_DIR / "TEST-ONLY-bundle-signing.key",
        public=KEYS_DIR / "TEST-ONLY-bundle-signing.pub",
        other_private=KEYS_DIR / "TEST-ONLY-other-signing.key",
        other_public=KEYS_DIR / "TEST-ONLY-other-signing.pub",
    )


@pytest.fixture(scope="session")
def sample_bundle(tmp_path_factory: pytest.TempPathFactory, test_keys: TestKeys) -> Path:
    """firmware_payloads/samples/quarterly-2026q4.yaml built with the test key (~35 MB)."""
    out = tmp_path_factory.mktemp("sample-bundle") / "quarterly-2026q4.iso"
    build_bundle(BundleSpec.from_yaml(SAMPLE_SPEC), test_keys.private_key(), out)
    return out


def small_bundle_spec() -> dict[str, Any]:
    """A three-package spec (BMC <- BIOS, NIC) for one model, payloads of a few KiB."""
    def package(pid: str, component: str, version: str, requires: list[str], reset: str,
                size: int) -> dict[str, Any]:
        return {"id": pid, "component": component, "version": version, "models": ["FF-TEST"],
                "min_from_version": None, "requires": requires, "reset": reset,
                "path": f"payloads/{pid}.bin", "size": size}

    return {
        "bundle_id": "test-bundle",
        "release": "test",
        "publisher": "fleetflash tests",
        "packages": [
            package("bmc-2.0.0", "BMC", "2.0.0", [], "bmc", 12_000),
            package("bios-1.5.0", "BIOS", "1.5.0", ["bmc-2.0.0"], "host", 9_000),
            package("nic-7.1", "NIC", "7.1", [], "none", 3_000),
        ],
    }


class BundleFactory:
    """Builds bundles into a tmp dir. Hooks let a test make hostile images:

    - ``manifest_hook(doc) -> doc``: edit the manifest dict *before* signing
      (a validly signed but invalid manifest: traversal path, schema 99, ...);
    - ``tamper_manifest(bytes) -> bytes``: edit the manifest *after* signing;
    - ``payload_overrides``: package id -> bytes placed in the image instead of
      the measured payload (hash mismatch);
    - ``key``: sign with this private key instead of the test key;
    - ``truncate_to``: cut the finished image to this many bytes.
    """

    def __init__(self, directory: Path, default_key: Ed25519PrivateKey) -> None:
        self.directory = directory
        self.default_key = default_key

    @staticmethod
    def default_spec() -> dict[str, Any]:
        return small_bundle_spec()

    def __call__(
        self,
        spec: dict[str, Any] | None = None,
        *,
        name: str = "bundle.iso",
        key: Ed25519PrivateKey | None = None,
        manifest_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        tamper_manifest: Callable[[bytes], bytes] | None = None,
        payload_overrides: dict[str, bytes] | None = None,
        truncate_to: int | None = None,
    ) -> Path:
        bundle_spec = BundleSpec.from_dict(spec or small_bundle_spec(), base_dir=self.directory)
        out = self.directory / name
        signing_key = key or self.default_key
        if not (manifest_hook or tamper_manifest or payload_overrides):
            build_bundle(bundle_spec, signing_key, out)
        else:
            document = manifest_from_spec(bundle_spec).to_dict()
            if manifest_hook is not None:
                document = manifest_hook(copy.deepcopy(document))
            manifest_bytes = canonical_json(document)
            signature = signing_key.sign(manifest_bytes)
            if tamper_manifest is not None:
                manifest_bytes = tamper_manifest(manifest_bytes)
            overrides = payload_overrides or {}
            files = []
            for pkg in bundle_spec.packages:
                source: PayloadSource = pkg.source
                if pkg.id in overrides:
                    source = BytesPayload(overrides[pkg.id])
                files.append(ImageFile(pkg.path, source))
            write_image(out, manifest_bytes, signature, files)
        if truncate_to is not None:
            with out.open("r+b") as handle:
                handle.truncate(truncate_to)
        return out


@pytest.fixture
def bundle_factory(tmp_path: Path, test_keys: TestKeys) -> BundleFactory:
    directory = tmp_path / "bundles"
    directory.mkdir()
    return BundleFactory(directory, test_keys.private_key())


@dataclass
class ServedRequest:
    """One request as the server saw it; ``bytes_sent`` grows before each chunk is sent."""

    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int = 0


@dataclass
class ServedDirectory:
    """A directory served at ``base_url``; ``requests`` logs every request in arrival order."""

    directory: Path
    base_url: str
    requests: list[ServedRequest] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    @property
    def bytes_sent(self) -> int:
        return sum(entry.bytes_sent for entry in self.requests)

    @property
    def statuses(self) -> list[int]:
        return [entry.status for entry in self.requests]


def _directory_app(served: ServedDirectory, honour_range: bool) -> Flask:
    app = Flask(f"bundle-server-{id(served)}")
    lock = threading.Lock()

    @app.get("/<path:name>")
    def get_file(name: str) -> Response:
        if honour_range:
            return send_from_directory(served.directory, name, conditional=True)
        # A server that ignores Range: always the whole file, status 200.
        path = safe_join(str(served.directory), name)
        if path is None or not Path(path).is_file():
            abort(404)
        size = Path(path).stat().st_size

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk

        return Response(chunks(), 200, {"Content-Length": str(size)},
                        mimetype="application/octet-stream")

    flask_wsgi = app.wsgi_app

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status: list[int] = []

        def remember_status(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(int(code.split()[0]))
            return start_response(code, headers, exc_info)

        body = flask_wsgi(environ, remember_status)
        # Logged and counted before bytes leave, so a client that has its
        # response always finds it in the log (no race with the test thread).
        entry = ServedRequest(environ["REQUEST_METHOD"], environ["PATH_INFO"],
                              environ.get("HTTP_RANGE"), status[0] if status else 0)
        with lock:
            served.requests.append(entry)
        try:
            for chunk in body:
                entry.bytes_sent += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()

    app.wsgi_app = counting  # type: ignore[method-assign]
    return app


@pytest.fixture
def _bundle_servers() -> Iterator[list[BaseWSGIServer]]:
    servers: list[BaseWSGIServer] = []
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def _serve(servers: list[BaseWSGIServer], directory: Path, honour_range: bool) -> ServedDirectory:
    served = ServedDirectory(Path(directory), "")
    server = make_server("127.0.0.1", 0, _directory_app(served, honour_range), threaded=True)
    served.base_url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    return served


@pytest.fixture
def http_bundle_server(
    _bundle_servers: list[BaseWSGIServer],
) -> Callable[[Path], ServedDirectory]:
    """``serve(directory)`` -> ServedDirectory with HTTP Range support (werkzeug send_file)."""
    return lambda directory: _serve(_bundle_servers, directory, honour_range=True)


@pytest.fixture
def http_bundle_server_no_range(
    _bundle_servers: list[BaseWSGIServer],
) -> Callable[[Path], ServedDirectory]:
    """``serve(directory)`` -> ServedDirectory whose server ignores Range (always 200)."""
    return lambda directory: _serve(_bundle_servers, directory, honour_range=False)
