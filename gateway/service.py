"""`gateway serve`: the composition root of the running gateway.

Builds the parts from the configuration and starts them in order: store
(migrated), image cache, intake service, acquisition worker, CIM listener,
the orchestration ([[clusters]]: media server, BMC event receiver,
orchestrator), the API ([api]) and the USB key watcher ([usb]), which starts
last and stops first. Each part is one `start`/`stop` pair; when one cannot
start, an ExitStack stops the ones already running, so a failed start leaves
no port bound and no thread behind. Signals are handled by the command
(gateway/cli.py, gateway/stop_signals.py), never inside these methods.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

from gateway.api.server import ApiServerError
from gateway.api.service import ApiService, apply_logging_config, build_api
from gateway.api.settings import api_settings
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


def _start_part(started: contextlib.ExitStack, start: Callable[[], None],
                stop: Callable[[], None], errors: type[Exception], prefix: str = "") -> None:
    """Start one part of the gateway and have ``started`` stop it if a later part fails;
    ``errors`` from ``start`` become a GatewayStartError (``prefix`` + the reason)."""
    try:
        start()
    except errors as exc:
        raise GatewayStartError(f"{prefix}{exc}") from exc
    started.callback(stop)


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

    def start(self) -> None:
        """Join the fleet, then start every part: worker, CIM listener, orchestration,
        API, USB watcher.

        Raises GatewayStartError naming the part that could not start; the parts
        already started are stopped again first (in reverse order).
        """
        if self.orchestration is not None:
            try:  # first: a second gateway under a live one's name must not act at all
                self.orchestration.join()
            except StoreError as exc:
                raise GatewayStartError(str(exc)) from exc
        with contextlib.ExitStack() as started:
            self.worker.start()
            started.callback(self.worker.stop)
            _start_part(started, self.listener.start, self.listener.stop, OSError,
                        "CIM listener could not start: ")
            if self.orchestration is not None:
                # The media server's and event receiver's loops answer BMCs while up to
                # `workers` node threads run Python code; the interpreter lock passes
                # between threads every switch interval (5 ms by default), so an I/O
                # thread waited behind each busy worker in turn. 1 ms keeps CD reads
                # flowing when a wave of 200 nodes starts (bench/rollout.py, 1000 nodes:
                # ratio 1.151 -> 1.141, docs/performance.md).
                sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
                _start_part(started, self.orchestration.start, self.orchestration.stop,
                            MediaError, "media server could not start: ")
            if self.api is not None:
                _start_part(started, self.api.start, self.api.stop, ApiServerError)
            if self.usb is not None:
                self.usb.start()  # last: a key plugged in at boot finds everything running
            started.pop_all()  # all running: from here on `stop` stops them
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


def build_gateway(config: GatewayConfig, *, worker_poll_interval: float = 2.0) -> Gateway:
    """Create (but do not start) every part from `config`.

    Raises StoreError for a database that cannot be opened, GatewayStartError for any
    other part that cannot be built (the store is closed again first).
    """
    try:
        apply_logging_config(config)
    except ConfigError as exc:
        raise GatewayStartError(f"logging: {exc}") from exc
    config.state_dir.mkdir(parents=True, exist_ok=True)
    store = GatewayStore.open(config.database_url)
    with contextlib.ExitStack() as opened:
        opened.callback(store.close)
        cache = ImageCache(config.cache_dir, config.cache_max_bytes)
        intake = IntakeService(config, store)
        try:
            usb = build_usb_intake(config, intake, cache)
        except (MediaError, IntakeError) as exc:
            raise GatewayStartError(f"usb: {exc}") from exc
        # The worker must know the [usb] source to mark USB images verified (local_bundle).
        worker = AcquisitionWorker(usb.worker_config(config) if usb else config, store, cache,
                                   poll_interval=worker_poll_interval)
        intake.set_new_image_callback(worker.wake)
        listener = _listener(config, intake)
        try:
            orchestration = build_orchestration(config, store, cache)
        except OrchestratorError as exc:
            raise GatewayStartError(str(exc)) from exc
        try:
            api = (build_api(config, store, intake=intake, orchestration=orchestration)
                   if config.file.api is not None else None)
        except (ConfigError, ApiServerError) as exc:
            raise GatewayStartError(f"API: {exc}") from exc
        if api is not None:
            api.context.metrics.watch_front_door("cim", listener.front_door_stats)
            if orchestration is not None:
                orchestration.orchestrator.api_url = api_settings(config).advertised_url()
        opened.pop_all()  # built: the Gateway owns the store now
    return Gateway(config, store, cache, intake, worker, listener, orchestration, api,
                   usb=usb)


def _listener(config: GatewayConfig, intake: IntakeService) -> GatewayListener:
    listener_config = config.listener
    http = listener_config.http
    https = listener_config.https
    if http and https and http[0] != https[0]:
        raise GatewayStartError("listener.http and listener.https must use the same host")
    return GatewayListener(
        intake, host=(http or https or ("", 0))[0], http_port=http[1] if http else None,
        https_port=https[1] if https else None,
        certfile=str(listener_config.certfile) if listener_config.certfile else None,
        keyfile=str(listener_config.keyfile) if listener_config.keyfile else None,
        max_body_bytes=listener_config.max_body_bytes,
    )
