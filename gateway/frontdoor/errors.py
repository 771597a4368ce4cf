"""The front door's exception root: everything it raises derives from FrontDoorError."""


class FrontDoorError(Exception):
    """A request or connection the front door refuses (see gateway.frontdoor.policy)."""
