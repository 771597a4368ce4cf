"""Building the API server of `gateway serve` from the configuration and the running parts."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.api.app import create_app
from gateway.api.context import ApiContext
from gateway.api.logs import configure_logging
from gateway.api.metrics import BmcErrorCounter, GatewayMetrics
from gateway.api.server import ApiServer, tls_context
from gateway.api.settings import api_settings, logging_settings
from gateway.config import GatewayConfig
from gateway.frontdoor import front_door_policy
from gateway.intake.service import IntakeService
from gateway.store import GatewayStore

if TYPE_CHECKING:  # the orchestrator is optional: imported only when one is running
    from gateway.orchestrator.wiring import Orchestration

ORCHESTRATOR_LOGGER = "gateway.orchestrator"


@dataclass
class ApiService:
    """The API server and what it serves; `start`/`stop` like every gateway part."""

    server: ApiServer
    context: ApiContext
    _handlers: list[logging.Handler] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        """Bind and serve. Raises ApiServerError (port in use, bad certificate)."""
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        for handler in self._handlers:
            logging.getLogger(ORCHESTRATOR_LOGGER).removeHandler(handler)
        self._handlers.clear()


def apply_logging_config(config: GatewayConfig) -> None:
    """Apply the [logging] section (format text|json, level) when the config has one.

    Raises ConfigError for a bad value.
    """
    if config.file.logging is not None:
        configure_logging(logging_settings(config))


def build_api(config: GatewayConfig, store: GatewayStore, *,
              intake: IntakeService | None = None,
              orchestration: Orchestration | None = None) -> ApiService:
    """The (not yet started) API server for `config`'s [api] section.

    Raises ConfigError for a bad section, ApiServerError for an unreadable certificate.
    """
    settings = api_settings(config)
    metrics = GatewayMetrics()
    handlers: list[logging.Handler] = []
    operations = None
    if orchestration is not None:
        from gateway.api.orchestration import OrchestratorOperations
        from gateway.redfish import RedfishError

        orchestrator = orchestration.orchestrator
        from gateway.api.registry_api import RegistryPersistence

        operations = OrchestratorOperations(
            orchestration.service, orchestrator.clusters, orchestrator.creator,
            frozenset(s.name for s in config.sources if s.allow_downgrade),
            RegistryPersistence(config, store).persist)
        metrics.watch_campaigns(operations.campaign_counts, operations.node_counts)
        metrics.watch_step_durations(operations.step_durations)
        counters = orchestration.media.counters
        metrics.watch_bytes_served(lambda: counters.snapshot().total_bytes)
        peers = orchestration.peers
        if peers is not None:
            metrics.watch_peer_bytes(lambda: peers.peer_bytes)
        handler = BmcErrorCounter(metrics, RedfishError)
        logging.getLogger(ORCHESTRATOR_LOGGER).addHandler(handler)
        handlers.append(handler)
    context = ApiContext.for_store(store, intake=intake, operations=operations, metrics=metrics)
    context.secure_cookies = settings.tls
    context.config = config
    if orchestration is not None:
        context.join_registered = orchestration.orchestrator.sync_registry
    tls = None
    if settings.certfile is not None and settings.keyfile is not None:
        tls = tls_context(settings.certfile, settings.keyfile)
    server = ApiServer(create_app(context), settings.host, settings.port, tls,
                       policy=front_door_policy(config, "api"))
    metrics.watch_front_door("api", server.front_door_stats)
    if orchestration is not None:
        metrics.watch_front_door("media", orchestration.media.stats)
        if orchestration.events is not None:
            metrics.watch_front_door("bmc_events", orchestration.events.front_door_stats)
    return ApiService(server, context, handlers)
