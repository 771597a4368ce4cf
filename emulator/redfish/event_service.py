"""/redfish/v1/EventService: push subscriptions and the server-sent-event stream."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.audit import utc_now
from emulator.errors import RedfishError
from emulator.events import EVENT_TYPES, SUBSCRIPTIONS_URI, Subscription
from emulator.redfish.common import (
    bmc,
    check_action,
    check_properties,
    existing,
    json_response,
    not_found,
    read_json,
    requires,
)
from emulator.redfish.documents import OK_STATUS, action, collection, post_action, ref, resource

blueprint = Blueprint("event_service", __name__)

SERVICE_URI = "/redfish/v1/EventService"
SSE_URI = f"{SERVICE_URI}/SSE"
REGISTRY_PREFIXES = ("TaskEvent", "ResourceEvent", "Update")
RESOURCE_TYPES = ("Task", "SoftwareInventory", "ComputerSystem")
SSE_KEEPALIVE_S = 15.0
TEST_EVENT = "EventService.SubmitTestEvent"
SEVERITIES = ("OK", "Warning", "Critical")
RETRY_POLICIES = ("RetryForever",)


@blueprint.get(SERVICE_URI)
def event_service() -> Response:
    current = bmc()
    return json_response(resource(
        SERVICE_URI, "#EventService.v1_12_0.EventService", "EventService", "Event Service",
        ServiceEnabled=current.events.service_enabled,
        DeliveryRetryAttempts=max(0, current.events.delivery.attempts - 1),
        DeliveryRetryIntervalSeconds=round(current.events.delivery.interval_s),
        EventFormatTypes=["Event"],
        EventTypesForSubscription=list(EVENT_TYPES),
        RegistryPrefixes=list(REGISTRY_PREFIXES),
        ResourceTypes=list(RESOURCE_TYPES),
        ServerSentEventUri=SSE_URI,
        # Filters a subscription may set, all applied when events are delivered.
        ExcludeMessageId=True,
        ExcludeRegistryPrefix=True,
        SubordinateResourcesSupported=True,
        IncludeOriginOfConditionSupported=False,
        Status=OK_STATUS,
        Subscriptions=ref(SUBSCRIPTIONS_URI),
        Actions=action(SERVICE_URI, TEST_EVENT,
                       **{"EventType@Redfish.AllowableValues": list(EVENT_TYPES)}),
    ))


@post_action(blueprint, SERVICE_URI, TEST_EVENT, Privilege.CONFIGURE_MANAGER)
def submit_test_event() -> Response:
    """Send a client-described event to the subscribers its filters select."""
    document = read_json()
    check_action(
        TEST_EVENT, document,
        {"MessageId": str, "Message": str, "MessageArgs": list, "EventId": str,
         "EventTimestamp": str, "EventType": str, "Severity": str, "MessageSeverity": str,
         "OriginOfCondition": str, "EventGroupId": int, "Context": str},
        choices={"EventType": EVENT_TYPES, "Severity": SEVERITIES,
                 "MessageSeverity": SEVERITIES},
        required=["MessageId"],
    )
    args = document.get("MessageArgs", [])
    if not all(isinstance(a, str) for a in args):
        raise RedfishError(400, "ActionParameterValueTypeError", json.dumps(args)[:80],
                           "MessageArgs", TEST_EVENT)
    severity = document.get("MessageSeverity") or document.get("Severity") or "OK"
    record: dict[str, Any] = {
        "MessageId": document["MessageId"],
        "Message": document.get("Message", "Test event"),
        "MessageArgs": list(args),
        "MessageSeverity": severity,
        "Severity": severity,
        "EventTimestamp": document.get("EventTimestamp") or utc_now(),
    }
    if document.get("EventId"):
        record["EventId"] = document["EventId"]
    if "EventGroupId" in document:
        record["EventGroupId"] = document["EventGroupId"]
    bmc().events.submit_test(record, document.get("OriginOfCondition", SERVICE_URI),
                             document.get("EventType", "Alert"))
    return json_response(None, 204)


@blueprint.get(SUBSCRIPTIONS_URI)
def subscriptions() -> Response:
    members = [s.uri for s in bmc().events.all()]
    return json_response(
        collection(SUBSCRIPTIONS_URI, "EventDestinationCollection", "Subscriptions", members)
    )


def _subscription_document(subscription: Subscription) -> dict[str, Any]:
    return {
        "@odata.id": subscription.uri,
        "@odata.type": "#EventDestination.v1_16_0.EventDestination",
        "Id": subscription.id,
        "Name": "Event subscription",
        "Destination": subscription.destination,
        "Context": subscription.context,
        "Protocol": subscription.protocol,
        "SubscriptionType": "RedfishEvent",
        "EventFormatType": "Event",
        "RegistryPrefixes": subscription.registry_prefixes,
        "MessageIds": subscription.message_ids,
        "ExcludeRegistryPrefixes": subscription.exclude_registry_prefixes,
        "ExcludeMessageIds": subscription.exclude_message_ids,
        "IncludeOriginOfCondition": False,
        # A failed delivery is dropped after its retries; later events still go out.
        "DeliveryRetryPolicy": "RetryForever",
        "ResourceTypes": subscription.resource_types,
        "EventTypes": subscription.event_types,
        "OriginResources": [{"@odata.id": o} for o in subscription.origin_resources],
        "SubordinateResources": subscription.include_origin_subordinates,
        "HttpHeaders": [],  # write-only: never echoed back (they may hold secrets)
        "Status": {"State": "Enabled", "Health": "OK"},
    }


def _strings(document: dict[str, Any], name: str) -> list[str]:
    values = document.get(name, [])
    if not all(isinstance(v, str) for v in values):
        raise RedfishError(400, "PropertyValueTypeError", json.dumps(values)[:80], name)
    return list(values)


@blueprint.post(SUBSCRIPTIONS_URI)
@requires(Privilege.CONFIGURE_COMPONENTS)
def subscribe() -> Response:
    document = read_json()
    check_properties(
        document,
        {"Destination": str, "Context": str, "Protocol": str, "RegistryPrefixes": list,
         "MessageIds": list, "ResourceTypes": list, "OriginResources": list,
         "SubordinateResources": bool, "HttpHeaders": list, "EventFormatType": str,
         "SubscriptionType": str, "EventTypes": list, "ExcludeMessageIds": list,
         "ExcludeRegistryPrefixes": list, "IncludeOriginOfCondition": bool,
         "DeliveryRetryPolicy": str},
        choices={"Protocol": ("Redfish",), "EventFormatType": ("Event",),
                 "SubscriptionType": ("RedfishEvent",), "IncludeOriginOfCondition": (False,),
                 "DeliveryRetryPolicy": RETRY_POLICIES},
        required=("Destination",),
    )
    for including, excluding in (("MessageIds", "ExcludeMessageIds"),
                                 ("RegistryPrefixes", "ExcludeRegistryPrefixes")):
        if document.get(including) and document.get(excluding):
            raise RedfishError(400, "PropertyValueConflict", excluding, including)
    destination = document["Destination"]
    parts = urlsplit(destination)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RedfishError(400, "PropertyValueFormatError", destination, "Destination")
    prefixes = _strings(document, "RegistryPrefixes")
    excluded = _strings(document, "ExcludeRegistryPrefixes")
    for name, values in (("RegistryPrefixes", prefixes), ("ExcludeRegistryPrefixes", excluded)):
        for prefix in values:
            if prefix not in REGISTRY_PREFIXES:
                raise RedfishError(400, "PropertyValueNotInList", prefix, name)
    # EventTypes is deprecated but still what many clients send: honoured as a filter.
    event_types = _strings(document, "EventTypes")
    for event_type in event_types:
        if event_type not in EVENT_TYPES:
            raise RedfishError(400, "PropertyValueNotInList", event_type, "EventTypes")
    origins = []
    for origin in document.get("OriginResources", []):
        if not isinstance(origin, dict) or not isinstance(origin.get("@odata.id"), str):
            raise RedfishError(400, "PropertyValueTypeError", json.dumps(origin)[:80],
                               "OriginResources")
        origins.append(origin["@odata.id"])
    headers = _headers(document)
    subscription = Subscription(
        id="",
        destination=destination,
        context=document.get("Context", ""),
        registry_prefixes=prefixes,
        message_ids=_strings(document, "MessageIds"),
        resource_types=_strings(document, "ResourceTypes"),
        origin_resources=origins,
        include_origin_subordinates=document.get("SubordinateResources", False),
        event_types=event_types,
        exclude_message_ids=_strings(document, "ExcludeMessageIds"),
        exclude_registry_prefixes=excluded,
        http_headers=headers,
    )
    try:
        bmc().events.add(subscription)
    except ValueError:
        raise RedfishError(503, "ServiceTemporarilyUnavailable", 60,
                           headers={"Retry-After": "60"}) from None
    return json_response(_subscription_document(subscription), 201,
                         {"Location": subscription.uri})


@blueprint.get(f"{SUBSCRIPTIONS_URI}/<subscription_id>")
def subscription(subscription_id: str) -> Response:
    found = existing(bmc().events.get(subscription_id), "EventDestination", subscription_id)
    return json_response(_subscription_document(found))


def _headers(document: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    items = document.get("HttpHeaders", [])
    for item in items:
        if not isinstance(item, dict) or not all(isinstance(v, str) for v in item.values()):
            raise RedfishError(400, "PropertyValueTypeError", "<hidden>", "HttpHeaders")
        headers.update(item)
    return headers


@blueprint.patch(f"{SUBSCRIPTIONS_URI}/<subscription_id>")
@requires(Privilege.CONFIGURE_COMPONENTS)
def patch_subscription(subscription_id: str) -> Response:
    """Context, HttpHeaders (replaced as a whole) and DeliveryRetryPolicy may change."""
    found = existing(bmc().events.get(subscription_id), "EventDestination", subscription_id)
    document = read_json()
    writable = {"Context": str, "HttpHeaders": list, "DeliveryRetryPolicy": str}
    check_properties(document, writable,
                     read_only=_subscription_document(found).keys() - writable.keys(),
                     choices={"DeliveryRetryPolicy": RETRY_POLICIES})
    headers = _headers(document) if "HttpHeaders" in document else found.http_headers
    found.context = document.get("Context", found.context)
    found.http_headers = headers
    return json_response(_subscription_document(found))


@blueprint.delete(f"{SUBSCRIPTIONS_URI}/<subscription_id>")
@requires(Privilege.CONFIGURE_COMPONENTS)
def unsubscribe(subscription_id: str) -> Response:
    if not bmc().events.remove(subscription_id):
        raise not_found("EventDestination", subscription_id)
    return json_response(None, 204)


@blueprint.get(SSE_URI)
def server_sent_events() -> Response:
    """The same events as the push subscriptions, as text/event-stream."""
    events = bmc().events
    reader = events.open_sse()

    def stream() -> Iterator[bytes]:
        try:
            yield b": fleetflash emulator event stream\n\n"
            while True:
                try:
                    event = reader.get(timeout=SSE_KEEPALIVE_S)
                except queue.Empty:
                    yield b": keep-alive\n\n"
                    continue
                yield f"id: {event['Id']}\ndata: {json.dumps(event)}\n\n".encode()
        finally:
            events.close_sse(reader)

    response = Response(stream(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    return response
