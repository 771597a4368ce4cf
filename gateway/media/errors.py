"""The one exception root of gateway.media, and its children.

Every message is one line that names the problem and never contains a
capability token, a server secret or a file's bytes.
"""

from __future__ import annotations


class MediaError(Exception):
    """Root of every error raised by gateway.media (HTTP server, tokens, USB source)."""


class MediaConfigError(MediaError):
    """The [media] or [usb] configuration section is invalid (message names the key)."""


class CapabilityError(MediaError):
    """A capability token is malformed, forged, expired or names nothing servable.

    The HTTP layer turns every CapabilityError into a plain 404 so a client cannot
    tell a forged token from an expired one.
    """
