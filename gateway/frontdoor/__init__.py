"""The gateway's front door: one policy (deadlines, connection limits) for every listener,
and the event-loop WSGI server that enforces it for the CIM listener, the API and the BMC
event receiver (the media server enforces the same policy on its own loops)."""

from gateway.frontdoor.policy import (
    LISTENERS,
    ClientSlots,
    DeadlineExceeded,
    FrontDoorPolicy,
    HeadTooLarge,
    front_door_policy,
)

__all__ = ["LISTENERS", "ClientSlots", "DeadlineExceeded", "FrontDoorPolicy", "HeadTooLarge",
           "front_door_policy"]
