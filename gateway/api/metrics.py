"""Prometheus metrics of the gateway (prometheus-client), one registry per gateway.

Two kinds of figures:

- counted as they happen: BMC errors by kind (`count_bmc_error`, fed by
  `BmcErrorCounter`, a logging handler on the orchestrator's logger). This
  module imports no Flask, so any package may hold a `GatewayMetrics`.
- read at scrape time from the source of truth: alerts by decision and images
  by state (the store), campaigns and nodes by state and the per-step
  durations the executor persists with every node run (the orchestrator's
  read model), bytes served (the media server's counters) and image bytes
  read from peer gateways. Reading at
  scrape time keeps the numbers right across restarts and several gateways.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.frontdoor.policy import FrontDoorStats
from gateway.store import GatewayStore, StoreError, statements_executed
from gateway.store.refusals import refusal_totals

LOG = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Node steps last from well under a second (eject) to the better part of an hour
# (a slow BIOS flash); the buckets cover that range.
STEP_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)

StateCounts = Callable[[], Mapping[str, int]]


class GatewayMetrics:
    """The gateway's metrics. `render()` gives the text exposition format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._bmc_errors = PromCounter(
            "fleetflash_bmc_errors", "Errors talking to BMCs, by kind.", ["kind"],
            registry=self.registry)
        self._scraped = _ScrapeTimeCollector()
        self.registry.register(self._scraped)

    def count_bmc_error(self, kind: str) -> None:
        """Count one BMC error; `kind` is a short class name (unreachable, auth, tls, ...)."""
        self._bmc_errors.labels(kind=kind).inc()

    def watch_store(self, store: GatewayStore) -> None:
        """Report alerts by decision and images by state from `store` at scrape time."""
        self._scraped.store = store

    def watch_campaigns(self, campaigns: StateCounts, nodes: StateCounts) -> None:
        """Report campaigns and nodes by state; each callable returns {state: count}."""
        self._scraped.campaigns = campaigns
        self._scraped.nodes = nodes

    def watch_step_durations(self, durations: Callable[[], Iterable[tuple[str, str, float]]]
                             ) -> None:
        """Report step durations; `durations` yields (step, method, seconds) per node step."""
        self._scraped.durations = durations

    def watch_bytes_served(self, total_bytes: Callable[[], int]) -> None:
        """Report the media server's bytes served (a monotonically growing count)."""
        self._scraped.bytes_served = total_bytes

    def watch_peer_bytes(self, total_bytes: Callable[[], int]) -> None:
        """Report the image bytes this gateway read from its peers (a growing count)."""
        self._scraped.peer_bytes = total_bytes

    def watch_front_door(self, listener: str, stats: Callable[[], FrontDoorStats]) -> None:
        """Report a listener's open connections, bytes in flight and front-door refusals."""
        self._scraped.front_doors[listener] = stats

    def render(self) -> bytes:
        """The metrics in Prometheus text format (serve with CONTENT_TYPE)."""
        return generate_latest(self.registry)


class _ScrapeTimeCollector(Collector):
    def __init__(self) -> None:
        self.store: GatewayStore | None = None
        self.campaigns: StateCounts | None = None
        self.nodes: StateCounts | None = None
        self.bytes_served: Callable[[], int] | None = None
        self.peer_bytes: Callable[[], int] | None = None
        self.durations: Callable[[], Iterable[tuple[str, str, float]]] | None = None
        self.front_doors: dict[str, Callable[[], FrontDoorStats]] = {}

    def describe(self) -> Iterable[Metric]:
        return []  # metrics appear only once their source is attached

    def collect(self) -> Iterator[Metric]:
        if self.store is not None:
            yield from self._from_store(self.store)
        if self.campaigns is not None:
            yield _states("fleetflash_campaigns", "Campaigns by state.", self.campaigns)
        if self.nodes is not None:
            yield _states("fleetflash_nodes", "Nodes in campaigns by current step.", self.nodes)
        if self.durations is not None:
            yield _histogram(self.durations)
        if self.bytes_served is not None:
            served = CounterMetricFamily("fleetflash_media_served_bytes",
                                         "Image bytes sent by the media server.")
            served.add_metric([], float(self.bytes_served()))
            yield served
        if self.peer_bytes is not None:
            yield CounterMetricFamily(
                "fleetflash_peer_image_bytes", "Image bytes this gateway read from the "
                "fleet's other gateways (gateway/orchestrator/peer_images.py).",
                value=float(self.peer_bytes()))
        if self.front_doors:
            yield from _front_doors(self.front_doors)

    def _from_store(self, store: GatewayStore) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "fleetflash_db_statements", "SQL statements this gateway sent to its database "
            "(every one, this scrape's own included).",
            value=float(statements_executed(store.engine)))
        try:
            decisions = store.count_alerts_by_decision()
            images = store.count_images_by_state()
        except StoreError as exc:
            LOG.warning("metrics: cannot read the store: %s", exc)
            return
        alerts = CounterMetricFamily("fleetflash_alerts", "Alerts received, by decision.",
                                     labels=["decision"])
        for decision, count in decisions.items():
            alerts.add_metric([decision.value], float(count))
        yield alerts
        gauge = GaugeMetricFamily("fleetflash_images", "Update images by state.",
                                  labels=["state"])
        for state, count in images.items():
            gauge.add_metric([state.value], float(count))
        yield gauge
        try:
            totals = refusal_totals(store.engine)
        except StoreError as exc:
            LOG.warning("metrics: cannot read refusals: %s", exc)
            return
        refusals = CounterMetricFamily(
            "fleetflash_refusals", "Requests refused before an alert was read (kept rows, "
            "see [refusals] retention_days), by listener and reason.",
            labels=["channel", "reason"])
        for (channel, reason), count in sorted(totals.items()):
            refusals.add_metric([channel, reason], float(count))
        yield refusals


def _front_doors(sources: Mapping[str, Callable[[], FrontDoorStats]]) -> Iterator[Metric]:
    connections = GaugeMetricFamily("fleetflash_front_door_connections",
                                    "Open client connections, by listener.",
                                    labels=["listener"])
    in_flight = GaugeMetricFamily("fleetflash_front_door_bytes_in_flight",
                                  "Response body bytes promised but not yet sent, by listener.",
                                  labels=["listener"])
    refused = CounterMetricFamily("fleetflash_front_door_refusals",
                                  "Connections and requests refused or cut off at the front "
                                  "door, by listener and reason.", labels=["listener", "reason"])
    for listener, read in sorted(sources.items()):
        stats = read()
        connections.add_metric([listener], float(stats.connections))
        in_flight.add_metric([listener], float(stats.bytes_in_flight))
        for reason, count in sorted(stats.refusals.items()):
            refused.add_metric([listener, reason], float(count))
    yield connections
    yield in_flight
    yield refused


def _histogram(durations: Callable[[], Iterable[tuple[str, str, float]]]
               ) -> HistogramMetricFamily:
    family = HistogramMetricFamily("fleetflash_node_step_duration_seconds",
                                   "Time nodes spent in each update step.",
                                   labels=["step", "method"])
    series: dict[tuple[str, str], list[float]] = {}
    try:
        for step, method, seconds in durations():
            series.setdefault((step, method), []).append(max(seconds, 0.0))
    except Exception:  # a scrape must never fail because one source did
        LOG.exception("metrics: cannot read step durations")
    for (step, method), values in sorted(series.items()):
        buckets = [(str(float(bound)), float(sum(1 for v in values if v <= bound)))
                   for bound in STEP_BUCKETS]
        buckets.append(("+Inf", float(len(values))))
        family.add_metric([step, method], buckets, sum_value=sum(values))
    return family


def _states(name: str, documentation: str, counts: StateCounts) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=["state"])
    try:
        values = counts()
    except Exception:  # a scrape must never fail because one source did
        LOG.exception("metrics: cannot read %s", name)
        values = {}
    for state, count in sorted(values.items()):
        gauge.add_metric([state], float(count))
    return gauge


class BmcErrorCounter(logging.Handler):
    """Counts BMC errors by kind from the records the orchestrator logs.

    The executor logs every RedfishError it handles (retried or fatal) with
    the exception object among the record's arguments; the kind is its class
    name without the Error suffix (BmcUnreachable, Authentication, Tls, ...).
    """

    def __init__(self, metrics: GatewayMetrics, error_type: type[BaseException]) -> None:
        super().__init__(level=logging.DEBUG)
        self._metrics = metrics
        self._error_type = error_type

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, self._error_type):
                self._metrics.count_bmc_error(type(arg).__name__.removesuffix("Error"))
                return
