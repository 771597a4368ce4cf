"""The one TLS policy of the gateway's servers (API, media): TLS 1.2 or newer."""

from __future__ import annotations

import os
import ssl


def server_tls_context(certfile: os.PathLike[str] | str,
                       keyfile: os.PathLike[str] | str) -> ssl.SSLContext:
    """A server context with the PEM certificate chain and key loaded, TLS 1.2+.

    Raises OSError (unreadable file) or ssl.SSLError (not a matching certificate and
    key); callers translate them into their package's error naming the file.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context
