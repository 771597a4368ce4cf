"""The lab's publisher: a web site serving every bundle in one directory, and the
action that puts a bundle there and announces it with a CIM alert.

The serving process (``python -m lab.lab_publisher DIR PORT``) reuses the
emulator publisher's Flask app (Range, ETag, ``.manifest.json``) over a
directory, so bundles copied in later by `fleetflash lab publish` are served
without a restart.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

import firmware_payloads as fp
from emulator.publisher.sender import (
    PublishError,
    send_indication,
    update_available_indication,
)
from emulator.publisher.server import create_app
from lab.lab_state import LabError, LabState

SAMPLE_SPEC = Path(__file__).resolve().parent.parent / "firmware_payloads" / "samples" \
    / "quarterly-2026q4.yaml"


class DirectoryBundles(dict[str, Path]):
    """The {file name: path} mapping `create_app` serves, read from a directory at each
    request. Only plain ``*.iso`` files directly inside the directory are served."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory.resolve()

    def get(self, key: str, default: Any = None) -> Any:
        if "/" in key or not key.endswith(".iso"):
            return default
        path = self.directory / key
        return path if path.is_file() else default


def serve(directory: Path, port: int) -> None:
    """Serve `directory` on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    server = make_server("127.0.0.1", port, create_app(DirectoryBundles(directory)),
                         threaded=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="lab-publisher", daemon=True)
    thread.start()
    print(f"publisher serving {directory} at http://127.0.0.1:{port}/bundles/", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()


def build_sample_bundle(private_key: Path, out: Path) -> fp.Manifest:
    """Build firmware_payloads/samples/quarterly-2026q4.yaml signed with `private_key`."""
    try:
        return fp.build_bundle(fp.BundleSpec.from_yaml(SAMPLE_SPEC),
                               fp.load_private_key(private_key), out)
    except fp.BundleError as exc:
        raise LabError(f"cannot build the sample bundle: {exc}") from exc


@dataclass(frozen=True)
class Announcement:
    """What `publish` announced."""

    bundle_id: str
    release: str
    sha256: str
    image_uri: str


def publish(state: LabState, bundle: Path | None = None) -> Announcement:
    """Put `bundle` (default: the sample bundle signed with the lab's key) on the lab's
    publisher and send FWUP0001 to the gateway. LabError if the bundle cannot be read
    or the gateway refuses the alert."""
    site = state.workdir / "publisher"
    if bundle is None:
        bundle = site / "quarterly-2026q4.iso"
        build_sample_bundle(Path(state.get("keys.private")), bundle)
    elif bundle.suffix != ".iso":
        raise LabError(f"{bundle}: the publisher serves .iso bundles only")
    try:  # read before copying: nothing unreadable lands on the publisher
        with fp.open_bundle(bundle) as reader:
            manifest = reader.manifest
    except fp.BundleError as exc:
        raise LabError(f"{bundle}: {exc}") from exc
    if bundle.resolve().parent != site.resolve():
        shutil.copyfile(bundle, site / bundle.name)
        bundle = site / bundle.name
    with open(bundle, "rb") as handle:
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    image_uri = str(state.get("publisher.url")) + bundle.name
    indication = update_available_indication(
        image_uri=image_uri, image_sha256=sha256, bundle_id=manifest.bundle_id,
        release=manifest.release,
        description=f"{manifest.publisher}: {manifest.release}, "
                    f"{len(manifest.packages)} packages")
    try:
        send_indication(str(state.get("gateway.cim_url")), indication,
                        user=str(state.get("gateway.cim_username")),
                        password=str(state.get("gateway.cim_password")))
    except PublishError as exc:
        raise LabError(f"the gateway refused the alert: {exc}") from exc
    return Announcement(manifest.bundle_id, manifest.release, sha256, image_uri)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
