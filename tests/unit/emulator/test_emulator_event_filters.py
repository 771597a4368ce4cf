"""Which events a subscription receives (RegistryPrefixes, MessageIds, ResourceTypes,
OriginResources), as a table."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.events import Subscription

EVENT = ("TaskEvent.TaskStarted", "Task", "/redfish/v1/TaskService/Tasks/1")


@pytest.mark.parametrize(
    ("description", "filters", "wanted"),
    [
        ("no filter takes everything", {}, True),
        ("matching prefix", {"registry_prefixes": ["TaskEvent"]}, True),
        ("other prefix", {"registry_prefixes": ["ResourceEvent"]}, False),
        ("short message id", {"message_ids": ["TaskStarted"]}, True),
        ("versioned message id", {"message_ids": ["TaskEvent.1.0.TaskStarted"]}, True),
        ("full message id", {"message_ids": ["TaskEvent.TaskStarted"]}, True),
        ("other message id", {"message_ids": ["TaskAborted"]}, False),
        ("same key, other registry", {"message_ids": ["ResourceEvent.1.4.TaskStarted"]}, False),
        ("excluded message id", {"exclude_message_ids": ["TaskEvent.TaskStarted"]}, False),
        ("excluded short id", {"exclude_message_ids": ["TaskStarted"]}, False),
        ("other id excluded", {"exclude_message_ids": ["TaskAborted"]}, True),
        ("excluded prefix", {"exclude_registry_prefixes": ["TaskEvent"]}, False),
        ("other prefix excluded", {"exclude_registry_prefixes": ["ResourceEvent"]}, True),
        ("matching resource type", {"resource_types": ["Task"]}, True),
        ("other resource type", {"resource_types": ["ComputerSystem"]}, False),
        ("exact origin", {"origin_resources": ["/redfish/v1/TaskService/Tasks/1"]}, True),
        ("parent origin without subordinates",
         {"origin_resources": ["/redfish/v1/TaskService/Tasks"]}, False),
        ("parent origin with subordinates",
         {"origin_resources": ["/redfish/v1/TaskService/Tasks"],
          "include_origin_subordinates": True}, True),
    ],
)
def test_subscription_filters(description: str, filters: dict[str, Any], wanted: bool) -> None:
    subscription = Subscription(id="1", destination="http://127.0.0.1:9/", **filters)
    assert subscription.wants(*EVENT) is wanted, description
