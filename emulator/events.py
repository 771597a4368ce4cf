"""EventService state of one BMC and the cluster-wide push delivery.

Subscribers receive Redfish Event documents for task transitions (TaskEvent
registry) and resource changes (ResourceEvent registry), filtered by
RegistryPrefixes, MessageIds, ResourceTypes and OriginResources. Delivery is
an HTTP POST with bounded retries on a small shared thread pool, so a dead
listener costs a few attempts, never a BMC thread; between its attempts it holds
no pool thread either (one retry thread hands it back), so listeners that refuse
cannot starve the others' deliveries. Server-sent-event readers
get the same events through a bounded queue.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from emulator.audit import utc_now
from emulator.event_post import DeliveryError, EventPoster
from emulator.messages import message

LOG = logging.getLogger(__name__)

SUBSCRIPTIONS_URI = "/redfish/v1/EventService/Subscriptions"
# EventType (deprecated since EventService 1.3, still sent by many clients):
# what a subscription's EventTypes filter on, and what each record carries.
EVENT_TYPES = ("StatusChange", "ResourceUpdated", "ResourceAdded", "ResourceRemoved", "Alert",
               "Other")
_EVENT_TYPE_OF = {
    "ResourceEvent.ResourceChanged": "ResourceUpdated",
    "ResourceEvent.ResourceCreated": "ResourceAdded",
    "ResourceEvent.ResourceRemoved": "ResourceRemoved",
}


def event_type_of(message_id: str) -> str:
    """The EventType of one of our messages: task and power transitions are status changes."""
    return _EVENT_TYPE_OF.get(message_id, "StatusChange")

MAX_SUBSCRIPTIONS = 32
SSE_QUEUE_DEPTH = 256
MAX_OUTBOX = 1000  # undelivered events kept per subscription


@dataclass
class Subscription:
    """One EventDestination. Empty filter lists mean "everything"."""

    id: str
    destination: str
    context: str = ""
    protocol: str = "Redfish"
    registry_prefixes: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    resource_types: list[str] = field(default_factory=list)
    origin_resources: list[str] = field(default_factory=list)
    include_origin_subordinates: bool = False
    event_types: list[str] = field(default_factory=list)
    exclude_message_ids: list[str] = field(default_factory=list)
    exclude_registry_prefixes: list[str] = field(default_factory=list)
    http_headers: dict[str, str] = field(default_factory=dict, repr=False)
    # Pending deliveries (event, attempts made), sent one at a time so a subscriber sees
    # events in order.
    outbox: deque[tuple[dict[str, Any], int]] = field(default_factory=deque, repr=False)
    draining: bool = field(default=False, repr=False)
    removed: bool = field(default=False, repr=False)  # deleted: what is pending is dropped

    @property
    def uri(self) -> str:
        return f"{SUBSCRIPTIONS_URI}/{self.id}"

    def wants(self, message_id: str, resource_type: str, origin: str,
              event_type: str = "") -> bool:
        """Whether an event with this short id ("TaskEvent.TaskStarted") passes the filters."""
        if self.event_types and (event_type or event_type_of(message_id)) not in self.event_types:
            return False
        prefix, _, key = message_id.partition(".")
        if self.registry_prefixes and prefix not in self.registry_prefixes:
            return False
        if prefix in self.exclude_registry_prefixes:
            return False
        if self.message_ids and not _names(self.message_ids, prefix, key):
            return False
        if _names(self.exclude_message_ids, prefix, key):
            return False
        if self.resource_types and resource_type not in self.resource_types:
            return False
        if self.origin_resources:
            return any(
                origin == o or (self.include_origin_subordinates and origin.startswith(o + "/"))
                for o in self.origin_resources
            )
        return True


def _names(wanted_ids: list[str], prefix: str, key: str) -> bool:
    """Whether one of the ids names this message ("Prefix.Key", "Prefix.1.0.Key" or "Key")."""
    return any(
        wanted in (f"{prefix}.{key}", key)
        or (wanted.endswith("." + key) and wanted.startswith(prefix + "."))
        for wanted in wanted_ids
    )


class EventDelivery:
    """Pushes events to subscribers for every BMC of a cluster.

    Each subscription gets its events in order: one delivery at a time per
    subscription (a failing listener delays only its own events), many
    subscriptions in parallel on a small shared pool. A failed attempt is tried again
    after the interval, handed back to the pool by one retry thread, not by a pool
    thread waiting: with more failing listeners than pool threads, waiting threads held
    up every other subscription's events (a lab whose BMCs kept a dead gateway's
    subscription saw its live gateway's events arrive tens of seconds late). An
    attempt itself still holds a pool thread until the listener answers or
    ``timeout_s`` passes.
    attempts: deliveries tried per event (EventService.DeliveryRetryAttempts + 1).
    interval_s: pause between attempts (DeliveryRetryIntervalSeconds).
    """

    def __init__(self, attempts: int = 3, interval_s: float = 1.0, timeout_s: float = 5.0) -> None:
        self.attempts = max(1, attempts)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="events"
        )
        self._lock = threading.Lock()
        self._poster = EventPoster(timeout_s)
        self._stopped = threading.Event()
        # Subscriptions waiting to retry: (due, order, subscription), a heap, handed back
        # to the pool by one thread (started at the first retry).
        self._due: list[tuple[float, int, Subscription]] = []
        self._due_changed = threading.Condition(self._lock)
        self._order = itertools.count()
        self._retrier: threading.Thread | None = None

    def submit(self, subscription: Subscription, event: dict[str, Any]) -> None:
        with self._lock:
            if subscription.removed:
                return
            if len(subscription.outbox) >= MAX_OUTBOX:
                subscription.outbox.popleft()
                LOG.warning("subscriber %s is too slow; dropped its oldest event",
                            subscription.destination)
            subscription.outbox.append((event, 0))
            if subscription.draining:
                return
            subscription.draining = True
        try:
            self._pool.submit(self._drain, subscription)
        except RuntimeError:  # pool shut down during stop()
            subscription.draining = False

    def _drain(self, subscription: Subscription) -> None:
        try:
            while not self._stopped.is_set():
                with self._lock:
                    if subscription.removed:
                        subscription.outbox.clear()
                    if not subscription.outbox:
                        subscription.draining = False
                        return
                    event, made = subscription.outbox.popleft()
                attempt = made + 1
                if self._deliver(subscription, event, attempt) or attempt >= self.attempts:
                    continue
                # Tried again after the interval, first of its subscription's events
                # (which stays draining meanwhile, so nothing overtakes it).
                with self._lock:
                    subscription.outbox.appendleft((event, attempt))
                    self._retry_later(subscription)
                return
        except Exception:  # never leave the subscription draining with nobody on it
            LOG.exception("event delivery to %s stopped", subscription.destination)
            with self._lock:
                subscription.draining = False

    def _retry_later(self, subscription: Subscription) -> None:
        """Hand ``subscription`` back to the pool after the interval (lock held)."""
        heapq.heappush(self._due, (time.monotonic() + self.interval_s, next(self._order),
                                   subscription))
        if self._retrier is None:
            self._retrier = threading.Thread(target=self._retry_due, name="events-retry",
                                             daemon=True)
            self._retrier.start()
        self._due_changed.notify()

    def _retry_due(self) -> None:
        with self._lock:
            while not self._stopped.is_set():
                if not self._due:
                    self._due_changed.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._due_changed.wait(wait)
                    continue
                subscription = heapq.heappop(self._due)[2]
                try:
                    self._pool.submit(self._drain, subscription)
                except RuntimeError:  # pool shut down during stop()
                    subscription.draining = False

    def _deliver(self, subscription: Subscription, event: dict[str, Any], attempt: int) -> bool:
        """One attempt; True when the listener took the event."""
        try:
            status = self._poster.post(subscription.destination, event,
                                       subscription.http_headers)
            if status < 300:
                return True
            LOG.info(
                "event to %s refused with %s (attempt %d/%d)",
                subscription.destination, status, attempt, self.attempts,
            )
        except DeliveryError as exc:
            LOG.info(
                "event to %s failed: %s (attempt %d/%d)",
                subscription.destination, type(exc).__name__, attempt, self.attempts,
            )
        return False

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            self._due_changed.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)


class EventService:
    """Subscriptions and SSE readers of one BMC."""

    def __init__(self, delivery: EventDelivery) -> None:
        self._delivery = delivery
        self._lock = threading.Lock()
        self._subscriptions: dict[str, Subscription] = {}
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._sse_readers: list[queue.Queue[dict[str, Any]]] = []
        self.service_enabled = True

    @property
    def delivery(self) -> EventDelivery:
        return self._delivery

    def add(self, subscription: Subscription) -> Subscription:
        """Store a subscription (its id is assigned here); ValueError when full."""
        with self._lock:
            if len(self._subscriptions) >= MAX_SUBSCRIPTIONS:
                raise ValueError("subscription limit reached")
            subscription.id = str(next(self._ids))
            self._subscriptions[subscription.id] = subscription
            return subscription

    def get(self, subscription_id: str) -> Subscription | None:
        return self._subscriptions.get(subscription_id)

    def all(self) -> list[Subscription]:
        with self._lock:
            return list(self._subscriptions.values())

    def remove(self, subscription_id: str) -> bool:
        with self._lock:
            removed = self._subscriptions.pop(subscription_id, None)
        if removed is None:
            return False
        removed.removed = True  # its pending events are dropped, not retried
        return True

    def open_sse(self) -> queue.Queue[dict[str, Any]]:
        reader: queue.Queue[dict[str, Any]] = queue.Queue(SSE_QUEUE_DEPTH)
        with self._lock:
            self._sse_readers.append(reader)
        return reader

    def close_sse(self, reader: queue.Queue[dict[str, Any]]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._sse_readers.remove(reader)

    def publish(
        self, message_id: str, args: tuple[str, ...], origin: str, resource_type: str
    ) -> dict[str, Any] | None:
        """Build one Event for a registry message and send it to every matching subscriber.

        message_id: short id "<Prefix>.<Key>"; origin: URI of the OriginOfCondition;
        resource_type: its schema name ("Task", "SoftwareInventory", ...).
        Returns the event record (without Context) or None when nobody listens.
        """
        record = message(message_id, *args)
        record.pop("Resolution", None)
        return self._send(record, message_id, resource_type, origin, event_type_of(message_id))

    def submit_test(self, record: dict[str, Any], origin: str, event_type: str) -> None:
        """EventService.SubmitTestEvent: send a client-made record through the same filters."""
        parts = str(record.get("MessageId", "")).split(".")
        short_id = f"{parts[0]}.{parts[-1]}"  # "Base.1.0.Foo" -> "Base.Foo"
        self._send(record, short_id, "", origin, event_type)

    def _send(self, record: dict[str, Any], message_id: str, resource_type: str, origin: str,
              event_type: str) -> dict[str, Any] | None:
        if not self.service_enabled:
            return None
        targets = [s for s in self.all()
                   if s.wants(message_id, resource_type, origin, event_type)]
        with self._lock:
            readers = list(self._sse_readers)
        if not targets and not readers:
            return None
        event_id = str(next(self._event_ids))
        record = dict(record)
        record.setdefault("EventId", event_id)
        record.setdefault("EventTimestamp", utc_now())
        record.update({"EventType": event_type, "OriginOfCondition": {"@odata.id": origin},
                       "MemberId": "0"})
        for subscription in targets:
            event = {
                "@odata.type": "#Event.v1_13_0.Event",
                "Id": event_id,
                "Name": "Event",
                "Context": subscription.context,
                "Events": [record],
            }
            self._delivery.submit(subscription, event)
        for reader in readers:
            with contextlib.suppress(queue.Full):  # a slow reader loses events, never blocks us
                reader.put_nowait(
                    {"@odata.type": "#Event.v1_13_0.Event", "Id": event_id,
                     "Name": "Event", "Events": [record]}
                )
        return record
