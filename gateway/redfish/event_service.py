"""/redfish/v1/EventService: subscribing the gateway to a BMC's events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sushy import exceptions as sushy_exc

from gateway.redfish.common import link, member_links
from gateway.redfish.connector import FleetConnector
from gateway.redfish.errors import NotSupportedError, RequestRejectedError, translated

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
                        resource_types: Sequence[str] = DEFAULT_RESOURCE_TYPES) -> str:
    """The URI of a subscription pushing to ``destination``: an existing one whose
    Destination is exactly ``destination`` (so calling this after every reconnect or
    gateway restart never piles up subscriptions), else a new one filtered to
    ``registry_prefixes`` and ``resource_types`` (each narrowed to what the service
    offers). Raises NotSupportedError without an EventService or Subscriptions
    collection, RequestRejectedError when the BMC refuses the subscription."""
    with translated("subscribing to events"):
        service, subscriptions = _service_and_subscriptions(conn, root_json)
        existing = _find_destination(conn, subscriptions, destination)
        if existing is not None:
            return existing
        return _create(conn, service, subscriptions, destination, context=context,
                       registry_prefixes=registry_prefixes, resource_types=resource_types)


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


def _find_destination(conn: FleetConnector, subscriptions: str, destination: str) -> str | None:
    for member in member_links(conn.get(subscriptions).json()):
        try:
            document = conn.get(member).json()
        except sushy_exc.ResourceNotFoundError:
            continue  # deleted since the collection was read
        if isinstance(document, dict) and document.get("Destination") == destination:
            return member
    return None


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
