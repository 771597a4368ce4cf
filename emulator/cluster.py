"""EmulatedCluster: start many BMCs in this process (the Python API tests and labs use).

    with EmulatedCluster(nodes=3, trusted_keys=[pub_path], flash_seconds=0.2) as cluster:
        node = cluster.inventory[0]      # {id, url, username, password, model, serial}
        cluster.faults.set(node["id"], "latency", seconds=0.2)
        ...                              # talk Redfish to node["url"]

See docs/emulator.md for every option.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import logging
import os
import resource
import secrets
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask

from emulator.admin import create_admin_app
from emulator.audit import AuditLog
from emulator.backends import HostBackend, open_backend
from emulator.bmc import Bmc, Timings
from emulator.config import ClusterConfig
from emulator.errors import ConfigError, EmulatorError
from emulator.events import EventDelivery
from emulator.faults import Fault, FaultKind, FaultSet
from emulator.firmware.engine import FirmwareEngine
from emulator.redfish.app import create_app
from emulator.redfish.update_service import ENGINE_KEY
from emulator.server import HttpServerError, MultiPortServer
from emulator.tls import SelfSignedTls, make_self_signed
from firmware_payloads import BundleError, load_public_key

LOG = logging.getLogger(__name__)

# Multipart framing around an image of MaxImageSizeBytes.
UPLOAD_OVERHEAD_BYTES = 1 << 20


class _PortControl:
    def __init__(self, server: MultiPortServer, port: int) -> None:
        self._server = server
        self._port = port

    # A restart thread may outlive the cluster: the server then ignores both
    # calls (a stopped server keeps every port closed), so no error reaches the thread.
    def close(self) -> None:
        if self._server.is_open(self._port):
            self._server.close_port(self._port)

    def reopen(self) -> None:
        if not self._server.is_open(self._port):
            self._server.reopen_port(self._port)


class ClusterFaults:
    """Fault control for every BMC: ``set(bmc_id, kind, **params)``, ``clear``, ``list``."""

    def __init__(self, cluster: EmulatedCluster) -> None:
        self._cluster = cluster

    def set(self, bmc_id: str, kind: str, **params: Any) -> Fault:
        """Activate a fault (see emulator/faults.py); ConfigError for bad input."""
        return self._cluster.bmc(bmc_id).faults.set(kind, **params)

    def clear(self, bmc_id: str, kind: str | None = None) -> None:
        self._cluster.bmc(bmc_id).faults.clear(kind)

    def list(self, bmc_id: str) -> list[Fault]:
        return self._cluster.bmc(bmc_id).faults.all()


def _raise_open_file_limit(nodes: int) -> None:
    """Each BMC needs a listening socket plus client connections: lift the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = nodes * 4 + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))


def _load_keys(keys: Any) -> list[Ed25519PublicKey]:
    loaded = []
    for key in keys:
        if isinstance(key, Ed25519PublicKey):
            loaded.append(key)
            continue
        try:
            loaded.append(load_public_key(key))
        except (BundleError, OSError) as exc:
            raise ConfigError(f"trusted key {key!s:.80}: {exc}") from exc
    return loaded


class EmulatedCluster:
    """A running cluster of emulated BMCs. Pass a ClusterConfig or its fields as keywords.

    Attributes after start(): inventory (list of dicts), bmcs, faults, audit,
    audit_log_path, admin_url, admin_token, tls_cert_path (None without TLS).
    Raises ConfigError for bad settings, EmulatorError if ports or the
    backend cannot be opened.
    """

    def __init__(self, config: ClusterConfig | None = None, **settings: Any) -> None:
        if config is not None and settings:
            raise ConfigError("pass either a ClusterConfig or keyword settings, not both")
        self.config = config or ClusterConfig(**settings)
        self.config.validate()
        self.bmcs: list[Bmc] = []
        self.faults = ClusterFaults(self)
        self.audit = AuditLog(self.config.audit_log)
        self.audit_log_path = self.audit.path
        self.admin_token = self.config.admin_token or secrets.token_urlsafe(24)
        self.admin_url = ""
        self.tls_cert_path: Path | None = None
        self._tls: SelfSignedTls | None = None
        self._by_port: dict[int, Bmc] = {}
        self._by_id: dict[str, Bmc] = {}
        self._server: MultiPortServer | None = None
        # The Redfish WSGI app every BMC port serves (set by start()).
        self.redfish_app: Flask | None = None
        self._backend: HostBackend | None = None
        self._delivery: EventDelivery | None = None
        self._engine: FirmwareEngine | None = None
        self._started = False

    # life cycle -------------------------------------------------------------------------------
    def start(self) -> EmulatedCluster:
        if self._started:
            return self
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        cfg = self.config
        specs = cfg.node_specs()
        _raise_open_file_limit(len(specs))
        engine = FirmwareEngine(_load_keys(cfg.trusted_keys), cfg.max_image_bytes,
                                cfg.image_tls_verify)
        self._engine = engine
        prefix = cfg.host_prefix
        if prefix is None:
            # The embedded test driver is shared by every cluster in this
            # process, so each cluster gets its own domain names there.
            uri = cfg.libvirt_uri
            prefix = f"fleetflash-{secrets.token_hex(3)}-" if uri.startswith("test:") else (
                "fleetflash-")
        self._backend = open_backend(cfg.libvirt_uri, prefix=prefix)
        self._delivery = EventDelivery(cfg.event_retry_attempts, cfg.event_retry_interval_s)
        if cfg.tls:
            self._tls = make_self_signed()
            self.tls_cert_path = self._tls.cert_path
        max_body = cfg.max_image_bytes + UPLOAD_OVERHEAD_BYTES
        self._server = MultiPortServer(
            ssl_context=self._tls.context if self._tls else None,
            max_body_bytes=max_body,
            worker_threads=cfg.worker_threads,
        )
        self._server.start()
        app = create_app(self._by_port.get, max_body)
        app.config[ENGINE_KEY] = engine
        self.redfish_app = app
        timings = Timings(cfg.flash_seconds, cfg.reset_seconds, cfg.bmc_restart_seconds,
                          cfg.bmc_restart_delay_seconds)
        scheme = "https" if cfg.tls else "http"
        served_pem = self.tls_cert_path.read_bytes() if self.tls_cert_path else None
        for index, spec in enumerate(specs):
            bmc_id = f"bmc-{index:04d}"
            bmc = Bmc(bmc_id=bmc_id, spec=spec, backend=self._backend, audit=self.audit,
                      delivery=self._delivery, timings=timings,
                      sessions_survive_restart=cfg.sessions_survive_restart,
                      session_timeout_s=cfg.session_timeout_seconds,
                      served_certificate=served_pem,
                      apply_certificate=self._certificate_swapper(bmc_id) if cfg.tls else None)
            bmc.cd_boot_handler = engine.boot_update_cd
            wanted = cfg.base_port + index if cfg.base_port else 0
            try:
                bmc.port = self._server.open_port(wanted, app)
            except HttpServerError as exc:
                raise EmulatorError(f"{bmc_id}: {exc}") from exc
            bmc.url = f"{scheme}://127.0.0.1:{bmc.port}"
            bmc.port_control = _PortControl(self._server, bmc.port)
            self._by_port[bmc.port] = bmc
            self._by_id[bmc_id] = bmc
            self.bmcs.append(bmc)
            bmc.faults.on_change = self._fault_hook(bmc)
            self._apply_port_faults(bmc, bmc.faults)
        admin = create_admin_app(self.admin_token, self._faults_of, lambda: list(self._by_id))
        try:
            admin_port = self._server.open_port(cfg.admin_port or 0, admin)
        except HttpServerError as exc:
            raise EmulatorError(f"admin endpoint: {exc}") from exc
        self.admin_url = f"{scheme}://127.0.0.1:{admin_port}"
        self.wait_until_answering()

    def stop(self) -> None:
        """Close every port, stop background work and remove embedded test hosts."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._delivery is not None:
            self._delivery.stop()
            self._delivery = None
        if self._engine is not None:
            self._engine.image_sessions.close()  # kept-alive image reads
            self._engine = None
        if self._backend is not None:
            keep = self.config.keep_hosts
            if keep is None:
                keep = not self.config.libvirt_uri.startswith("test:")
            if not keep:
                for bmc in self.bmcs:
                    with contextlib.suppress(EmulatorError):
                        self._backend.remove_host(bmc.host)
            self._backend.close()
            self._backend = None
        if self._tls is not None:
            self._tls.cleanup()
            self._tls = None
        self.audit.close()

    def __enter__(self) -> EmulatedCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # lookups ----------------------------------------------------------------------------------
    def bmc(self, bmc_id: str) -> Bmc:
        """The BMC with this inventory id; ConfigError if there is none."""
        found = self._by_id.get(bmc_id)
        if found is None:
            raise ConfigError(f"no BMC {bmc_id!r} in this cluster")
        return found

    def _faults_of(self, bmc_id: str) -> FaultSet | None:
        found = self._by_id.get(bmc_id)
        return found.faults if found else None

    @property
    def inventory(self) -> list[dict[str, str]]:
        """[{id, url, username, password, model, serial}] in BMC order."""
        return [
            {"id": b.id, "url": b.url, "username": b.username, "password": b.password,
             "model": b.model, "serial": b.serial}
            for b in self.bmcs
        ]

    def write_inventory(self, path: str | Path) -> None:
        """Write the inventory JSON (mode 0600: it holds passwords)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.inventory, handle, indent=2)
            handle.write("\n")
        temporary.replace(target)

    def _certificate_swapper(self, bmc_id: str) -> Callable[[ssl.SSLContext], None]:
        """How BMC ``bmc_id`` makes its port serve a replaced certificate."""

        def swap(context: ssl.SSLContext) -> None:
            assert self._server is not None
            self._server.replace_tls(self._by_id[bmc_id].port, context)

        return swap

    # faults that act on the port -----------------------------------------------------------------
    def _fault_hook(self, bmc: Bmc) -> Any:
        return lambda faults: self._apply_port_faults(bmc, faults)

    def _apply_port_faults(self, bmc: Bmc, faults: FaultSet) -> None:
        server = self._server
        if server is None or not bmc.port:
            return
        policy = server.policy(bmc.port)
        latency = faults.active(FaultKind.LATENCY)
        policy.delay_s = float(latency.params.get("seconds", 0)) if latency else 0.0
        unreachable = faults.active(FaultKind.UNREACHABLE)
        mode = unreachable.params.get("mode", "refuse") if unreachable else None
        policy.blackhole = mode == "timeout"
        assert bmc.port_control is not None
        if mode == "refuse":
            bmc.port_control.close()
        elif not bmc.manager_restarting:
            bmc.port_control.reopen()

    # readiness ------------------------------------------------------------------------------------
    def wait_until_answering(self, timeout_s: float = 60.0) -> None:
        """Block until every BMC answers GET /redfish/v1 (EmulatorError on timeout)."""
        deadline = time.monotonic() + timeout_s
        context = None
        if self.config.tls:
            context = ssl.create_default_context(cafile=str(self.tls_cert_path))

        def probe(bmc: Bmc) -> None:
            while True:
                try:
                    if context is not None:
                        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                            "127.0.0.1", bmc.port, timeout=5, context=context)
                    else:
                        conn = http.client.HTTPConnection("127.0.0.1", bmc.port, timeout=5)
                    try:
                        conn.request("GET", "/redfish/v1")
                        if conn.getresponse().status == 200:
                            return
                    finally:
                        conn.close()
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise EmulatorError(f"{bmc.id} did not answer within {timeout_s:.0f} s")
                time.sleep(0.05)

        targets = [b for b in self.bmcs if not b.faults.active(FaultKind.UNREACHABLE)
                   and not b.faults.active(FaultKind.SERVICE_UNAVAILABLE)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            for future in [pool.submit(probe, b) for b in targets]:
                future.result()
