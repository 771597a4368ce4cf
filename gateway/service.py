"""`gateway serve`: the composition root of the running gateway.

Builds the parts from the configuration and starts them in order: store
(migrated), image cache, intake service, acquisition worker, CIM listener.
The media server, API and orchestrator are added here as they land; each is
one more `start`/`stop` pair and nothing else in this module changes. The USB
key watcher ([usb]) starts last and stops first.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field

from gateway.api.server import ApiServerError
from gateway.api.service import ApiService, apply_logging_config, build_api
from gateway.cim.listener import GatewayListener
from gateway.config import ConfigError, GatewayConfig
from gateway.intake.errors import IntakeError
from gateway.intake.service import IntakeService
from gateway.intake.usb_feed import UsbIntake, build_usb_intake
from gateway.intake.worker import AcquisitionWorker
from gateway.media import MediaError
from gateway.media.cache import ImageCache
from gateway.orchestrator.errors import OrchestratorError
from gateway.orchestrator.wiring import Orchestration, build_orchestration
from gateway.store import GatewayStore, StoreError

LOG = logging.getLogger(__name__)
SWITCH_INTERVAL_S = 0.001  # see Gateway.start


class GatewayStartError(Exception):
    """A part of the gateway could not start (message says which and why)."""


@dataclass
class Gateway:
    """The running parts of one gateway process."""

    config: GatewayConfig
    store: GatewayStore
    cache: ImageCache
    intake: IntakeService
    worker: AcquisitionWorker
    listener: GatewayListener
    orchestration: Orchestration | None = None  # media server + orchestrator ([[clusters]])
    api: ApiService | None = None  # REST API, dashboard, metrics ([api])
    usb: UsbIntake | None = None  # USB key watcher ([usb])
    _stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Join the fleet, start the worker, then the listener. Raises GatewayStartError."""
        if self.orchestration is not None:
            try:  # first: a second gateway under a live one's name must not act at all
                self.orchestration.join()
            except StoreError as exc:
                raise GatewayStartError(str(exc)) from exc
        self.worker.start()
        try:
            self.listener.start()
        except OSError as exc:
            self.worker.stop()
            raise GatewayStartError(f"CIM listener could not start: {exc}") from exc
        if self.orchestration is not None:
            # The media server's and event receiver's loops answer BMCs while up to
            # `workers` node threads run Python code; the interpreter lock passes
            # between threads every switch interval (5 ms by default), so an I/O
            # thread waited behind each busy worker in turn. 1 ms keeps CD reads
            # flowing when a wave of 200 nodes starts (bench/rollout.py, 1000 nodes:
            # ratio 1.151 -> 1.141, docs/performance.md).
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
            try:
                self.orchestration.start()
            except MediaError as exc:
                self.listener.stop()
                self.worker.stop()
                raise GatewayStartError(f"media server could not start: {exc}") from exc
        if self.api is not None:
            try:
                self.api.start()
            except ApiServerError as exc:
                if self.orchestration is not None:
                    self.orchestration.stop()
                self.listener.stop()
                self.worker.stop()
                raise GatewayStartError(str(exc)) from exc
        if self.usb is not None:
            self.usb.start()  # last: a key plugged in at boot finds everything running
        LOG.info("gateway %s listening (http %s, https %s)", self.config.name,
                 self.config.listener.http, self.config.listener.https)

    def stop(self) -> None:
        """Stop accepting alerts, finish the current chunk of work, close the store."""
        if self.usb is not None:
            self.usb.stop()
        if self.api is not None:
            self.api.stop()
        self.listener.stop()
        if self.orchestration is not None:
            self.orchestration.stop()
        self.worker.stop()
        self.store.close()
        self._stopped.set()

    def wait(self) -> None:
        """Block until `stop` is called (the CLI also stops on Ctrl-C)."""
        self._stopped.wait()


def build_gateway(config: GatewayConfig, *, worker_poll_interval: float = 2.0) -> Gateway:
    """Create (but do not start) every part from `config`. Raises StoreError."""
    try:
        apply_logging_config(config)
    except ConfigError as exc:
        raise GatewayStartError(f"logging: {exc}") from exc
    config.state_dir.mkdir(parents=True, exist_ok=True)
    store = GatewayStore.open(config.database_url)
    cache = ImageCache(config.cache_dir, config.cache_max_bytes)
    intake = IntakeService(config, store)
    try:
        usb = build_usb_intake(config, intake, cache)
    except (MediaError, IntakeError) as exc:
        store.close()
        raise GatewayStartError(f"usb: {exc}") from exc
    # The worker must know the [usb] source to mark USB images verified (local_bundle).
    worker = AcquisitionWorker(usb.worker_config(config) if usb else config, store, cache,
                               poll_interval=worker_poll_interval)
    intake.set_new_image_callback(worker.wake)
    listener_config = config.listener
    http = listener_config.http
    https = listener_config.https
    host = (http or https or ("", 0))[0]
    if http and https and http[0] != https[0]:
        raise GatewayStartError("listener.http and listener.https must use the same host "
                                "(pywbem binds both ports on one address)")
    listener = GatewayListener(
        intake, host=host, http_port=http[1] if http else None,
        https_port=https[1] if https else None,
        certfile=str(listener_config.certfile) if listener_config.certfile else None,
        keyfile=str(listener_config.keyfile) if listener_config.keyfile else None,
        max_body_bytes=listener_config.max_body_bytes,
    )
    try:
        orchestration = build_orchestration(config, store, cache)
    except OrchestratorError as exc:
        store.close()
        raise GatewayStartError(str(exc)) from exc
    try:
        api = (build_api(config, store, intake=intake, orchestration=orchestration)
               if config.section("api") else None)
    except (ConfigError, ApiServerError) as exc:
        store.close()
        raise GatewayStartError(f"API: {exc}") from exc
    if api is not None:
        api.context.metrics.watch_front_door("cim", listener.front_door_stats)
    return Gateway(config, store, cache, intake, worker, listener, orchestration, api,
                   usb=usb)
