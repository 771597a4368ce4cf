"""Many listening ports, one event loop, one WSGI app per port."""

from emulator.server.connection import PortPolicy
from emulator.server.multiport import HttpServerError, MultiPortServer

__all__ = ["HttpServerError", "MultiPortServer", "PortPolicy"]
