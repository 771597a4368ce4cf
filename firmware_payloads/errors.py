"""The exception hierarchy of firmware_payloads: one root, one class per problem.

Every message is one line that names the problem and the thing it concerns
(a path, a package id, a URL) and never contains key material.
"""

from __future__ import annotations


class BundleError(Exception):
    """Root of every error raised by firmware_payloads."""


class BundleFormatError(BundleError):
    """The image is not a readable bundle: truncated, not ISO 9660, files missing."""


class ManifestError(BundleError):
    """The manifest JSON is malformed or violates the schema."""


class UnknownSchemaError(ManifestError):
    """The manifest declares a schema_version this reader does not know."""


class ManifestTooLargeError(ManifestError):
    """The manifest exceeds MAX_MANIFEST_BYTES; it is refused before being read."""


class UnsafePathError(ManifestError):
    """A payload path could escape the bundle (``..``, absolute, backslash, NUL, link)."""


class SignatureError(BundleError):
    """No trusted key verifies the manifest signature, or the signature is malformed."""


class HashMismatchError(BundleError):
    """A payload's size or sha256 differs from what the manifest declares."""


class BootCatalogError(BundleError):
    """The image's El Torito boot catalog does not point at exactly the signed boot images."""


class FetchError(BundleError):
    """Reading the bundle from a file or URL failed (I/O, HTTP status, connection)."""


class SizeLimitError(FetchError):
    """A streamed download (server without Range support) exceeded its size cap."""


class VersionError(BundleError):
    """A version string is not dotted numerics with an optional build suffix."""


class KeyFileError(BundleError):
    """A key file is missing, unreadable, not Ed25519, or would be overwritten."""
