"""/redfish/v1/EventService: subscribing the gateway to a BMC's events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sushy import exceptions as sushy_exc

from gateway.redfish.common import link, member_links
from gateway.redfish.connector import FleetConnector
from gateway.redfish.errors import (
    NotSupportedError,
    RedfishError,
    RequestRejectedError,
    translated,
)

LOG = logging.getLogger(__name__)

DEFAULT_REGISTRIES = ("TaskEvent", "Update", "ResourceEvent")
# Tasks (progress of an update) and SoftwareInventory (a version changed).
DEFAULT_RESOURCE_TYPES = ("SoftwareInventory", "Task")


def subscribe(conn: FleetConnector, root_json: dict[str, Any], destination: str, *,
              context: str, registry_prefixes: Sequence[str] = DEFAULT_REGISTRIES) -> str:
    """Create an EventDestination pushing to ``destination`` (an http(s) URL of the
    gateway); ``context`` is echoed in every event so the gateway knows the BMC.
    Returns the subscription's URI (path). Raises NotSupportedError without an
    EventService, RequestRejectedError when the BMC refuses the subscription."""
    with translated("subscribing to events"):
        service, subscriptions = _service_and_subscriptions(conn, root_json)
        return _create(conn, service, subscriptions, destination, context=context,
                       registry_prefixes=registry_prefixes, resource_types=())


def ensure_subscription(conn: FleetConnector, root_json: dict[str, Any], destination: str, *,
                        context: str, registry_prefixes: Sequence[str] = DEFAULT_REGISTRIES,
                        resource_types: Sequence[str] = DEFAULT_RESOURCE_TYPES,
                        superseded: Callable[[str], bool] | None = None) -> str:
    """The URI of a subscription pushing to ``destination``: an existing one whose
    Destination is exactly ``destination`` (so calling this after every reconnect or
    gateway restart never piles up subscriptions), else a new one filtered to
    ``registry_prefixes`` and ``resource_types`` (each narrowed to what the service
    offers). Then every other subscription with the same ``context`` whose Destination
    is ``superseded`` (a gateway gone for good: see Membership.superseded) is deleted,
    so a BMC's table does not fill with them; one the BMC will not delete is left.
    Raises NotSupportedError without an EventService or Subscriptions collection,
    RequestRejectedError when the BMC refuses the subscription."""
    with translated("subscribing to events"):
        service, subscriptions = _service_and_subscriptions(conn, root_json)
        existing, stale = _find_destination(conn, subscriptions, destination,
                                            context, superseded)
        own = existing or _create(conn, service, subscriptions, destination,
                                  context=context, registry_prefixes=registry_prefixes,
                                  resource_types=resource_types)
    for uri, gone in stale:
        try:
            unsubscribe(conn, uri)
        except RedfishError as exc:
            LOG.info("%s: subscription %s to %s not removed: %s", context, uri, gone, exc)
            continue
        LOG.info("%s: removed subscription %s to %s (a gateway gone for good)",
                 context, uri, gone)
    return own


def _service_and_subscriptions(conn: FleetConnector,
                               root_json: dict[str, Any]) -> tuple[dict[str, Any], str]:
    service_uri = link(root_json, "EventService")
    if service_uri is None:
        raise NotSupportedError("the BMC has no EventService")
    service: dict[str, Any] = conn.get(service_uri).json()
    subscriptions = link(service, "Subscriptions")
    if subscriptions is None:
        raise NotSupportedError("the EventService has no Subscriptions collection")
    return service, subscriptions


def _find_destination(conn: FleetConnector, subscriptions: str, destination: str,
                      context: str, superseded: Callable[[str], bool] | None,
                      ) -> tuple[str | None, list[tuple[str, str]]]:
    """The member pushing to ``destination`` (None: none), and (URI, where it pushes,
    without its path) of those with ``context`` pushing where ``superseded``; without
    ``superseded`` the walk ends at the first match. A member that cannot be read fails
    the walk only if ours is not found (it could have been ours)."""
    found: str | None = None
    stale: list[tuple[str, str]] = []
    unread: sushy_exc.SushyError | None = None
    for member in member_links(conn.get(subscriptions).json()):
        try:
            document = conn.get(member).json()
        except sushy_exc.ResourceNotFoundError:
            continue  # deleted since the collection was read
        except sushy_exc.SushyError as exc:
            if superseded is None:
                raise
            unread = unread or exc
            continue
        if not isinstance(document, dict):
            continue
        pushes_to = document.get("Destination")
        if pushes_to == destination:
            found = member
            if superseded is None:
                break
        elif (superseded is not None and isinstance(pushes_to, str)
              and document.get("Context") == context and superseded(pushes_to)):
            stale.append((member, _origin(pushes_to)))
    if found is None and unread is not None:
        raise unread
    return found, stale


def _origin(url: str) -> str:
    """What of a Destination may be logged: its path carries the receiver's per-node
    token."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a malformed URL)"
    return f"{parts.scheme}://{parts.netloc}"


def _offered(service: dict[str, Any], name: str, wanted: Sequence[str]) -> list[str]:
    # Ask only for values the service lists (e.g. EventService.RegistryPrefixes):
    # BMCs refuse a subscription naming one they do not offer.
    offered = service.get(name)
    return [value for value in wanted if not isinstance(offered, list) or value in offered]


def _create(conn: FleetConnector, service: dict[str, Any], subscriptions: str,
            destination: str, *, context: str, registry_prefixes: Sequence[str],
            resource_types: Sequence[str]) -> str:
    payload: dict[str, Any] = {"Destination": destination, "Protocol": "Redfish",
                               "Context": context}
    # An empty filter list means "every event": leave the property out instead.
    if prefixes := _offered(service, "RegistryPrefixes", registry_prefixes):
        payload["RegistryPrefixes"] = prefixes
    if types := _offered(service, "ResourceTypes", resource_types):
        payload["ResourceTypes"] = types
    response = conn.post(subscriptions, data=payload)
    location = response.headers.get("Location")
    if not location:
        raise RequestRejectedError("the BMC created a subscription but gave no Location")
    return str(urlsplit(location).path)


def unsubscribe(conn: FleetConnector, subscription_uri: str) -> None:
    """Delete a subscription; one that is already gone is fine."""
    with translated("deleting an event subscription"):
        try:
            conn.delete(subscription_uri)
        except sushy_exc.ResourceNotFoundError:
            return
