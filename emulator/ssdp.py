"""An SSDP responder for emulated BMCs (DSP0266 "Service discovery"): answers an
M-SEARCH for ``urn:dmtf-org:service:redfish-rest:1`` (or ``ssdp:all``) with one
unicast reply per service root, carrying the root's URL in the AL header.

Lab only and loopback only: it binds 127.0.0.1 (refusing any other address) on a
port the caller picks (0: free), because the lab must never answer discovery on a
real network. Real BMCs listen on the multicast group 239.255.255.250:1900.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Sequence

from emulator.errors import EmulatorError

SERVICE_TYPE = "urn:dmtf-org:service:redfish-rest:1"
_MAX_DATAGRAM = 2048


class SsdpResponder:
    """Answers M-SEARCH on 127.0.0.1:`port` for each of `roots` (service root URLs,
    e.g. "http://127.0.0.1:8001/redfish/v1/")."""

    def __init__(self, roots: Sequence[str], *, host: str = "127.0.0.1", port: int = 0,
                 max_age_s: int = 1800) -> None:
        if host != "127.0.0.1":
            raise EmulatorError("the SSDP responder answers on loopback only (127.0.0.1)")
        self.roots = list(roots)
        self.max_age_s = max_age_s
        self._uuids = [str(uuid.uuid5(uuid.NAMESPACE_URL, root)) for root in self.roots]
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ssdp", daemon=True)
        self.searches = 0  # M-SEARCH requests answered

    def start(self) -> SsdpResponder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> SsdpResponder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(_MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            target = _search_target(data)
            if target not in (SERVICE_TYPE, "ssdp:all"):
                continue
            self.searches += 1
            for root, service_uuid in zip(self.roots, self._uuids, strict=True):
                self._sock.sendto(self._reply(root, service_uuid), sender)

    def _reply(self, root: str, service_uuid: str) -> bytes:
        lines = ["HTTP/1.1 200 OK", f"CACHE-CONTROL: max-age={self.max_age_s}", "EXT:",
                 f"ST: {SERVICE_TYPE}", f"USN: uuid:{service_uuid}::{SERVICE_TYPE}",
                 f"AL: {root}", "", ""]
        return "\r\n".join(lines).encode("ascii")


def _search_target(data: bytes) -> str | None:
    """The ST of an M-SEARCH datagram, or None for anything else."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    if not lines or lines[0].strip().upper() != "M-SEARCH * HTTP/1.1":
        return None
    headers = {k.strip().upper(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if ":" in line)}
    if headers.get("MAN", "").strip('"') != "ssdp:discover":
        return None
    return headers.get("ST")
