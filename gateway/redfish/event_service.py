"""/redfish/v1/EventService: subscribing the gateway to a BMC's events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sushy import exceptions as sushy_exc

from gateway.redfish.common import link
from gateway.redfish.connector import FleetConnector
from gateway.redfish.errors import NotSupportedError, RequestRejectedError, translated

LOG = logging.getLogger(__name__)

DEFAULT_REGISTRIES = ("TaskEvent", "Update", "ResourceEvent")


def subscribe(conn: FleetConnector, root_json: dict[str, Any], destination: str, *,
              context: str, registry_prefixes: Sequence[str] = DEFAULT_REGISTRIES) -> str:
    """Create an EventDestination pushing to ``destination`` (an http(s) URL of the
    gateway); ``context`` is echoed in every event so the gateway knows the BMC.
    Returns the subscription's URI (path). Raises NotSupportedError without an
    EventService, RequestRejectedError when the BMC refuses the subscription."""
    service_uri = link(root_json, "EventService")
    if service_uri is None:
        raise NotSupportedError("the BMC has no EventService")
    with translated("subscribing to events"):
        service = conn.get(service_uri).json()
        subscriptions = link(service, "Subscriptions")
        if subscriptions is None:
            raise NotSupportedError("the EventService has no Subscriptions collection")
        # Ask only for prefixes the service lists (EventService.RegistryPrefixes):
        # BMCs refuse a subscription naming one they do not offer.
        offered = service.get("RegistryPrefixes")
        prefixes = [p for p in registry_prefixes
                    if not isinstance(offered, list) or p in offered]
        payload: dict[str, Any] = {"Destination": destination, "Protocol": "Redfish",
                                   "Context": context}
        if prefixes:
            payload["RegistryPrefixes"] = prefixes
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
