"""fleetflash update bundles: signed ISO 9660 images of firmware payloads.

Everything other packages need is importable from here; see
docs/bundle-format.md for the format.
"""

from firmware_payloads.applicability import (
    Decision,
    applicable_packages,
    explain_applicability,
    is_downgrade,
)
from firmware_payloads.build import build_bundle
from firmware_payloads.errors import (
    BootCatalogError,
    BundleError,
    BundleFormatError,
    FetchError,
    HashMismatchError,
    KeyFileError,
    ManifestError,
    ManifestTooLargeError,
    SignatureError,
    SizeLimitError,
    UnknownSchemaError,
    UnsafePathError,
    VersionError,
)
from firmware_payloads.keys import (
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    write_keypair,
)
from firmware_payloads.manifest import (
    MAX_MANIFEST_BYTES,
    SCHEMA_VERSION,
    Manifest,
    Package,
    ResetKind,
)
from firmware_payloads.reader import BundleReader, open_bundle
from firmware_payloads.schemes import DEFAULT_SCHEME, SchemeKind, VersionScheme
from firmware_payloads.spec import BundleSpec
from firmware_payloads.verify import verify_bundle, verify_manifest, verify_payload
from firmware_payloads.versions import Version, parse_version

__all__ = [
    "DEFAULT_SCHEME",
    "MAX_MANIFEST_BYTES",
    "SCHEMA_VERSION",
    "BootCatalogError",
    "BundleError",
    "BundleFormatError",
    "BundleReader",
    "BundleSpec",
    "Decision",
    "FetchError",
    "HashMismatchError",
    "KeyFileError",
    "Manifest",
    "ManifestError",
    "ManifestTooLargeError",
    "Package",
    "ResetKind",
    "SchemeKind",
    "SignatureError",
    "SizeLimitError",
    "UnknownSchemaError",
    "UnsafePathError",
    "Version",
    "VersionError",
    "VersionScheme",
    "applicable_packages",
    "build_bundle",
    "explain_applicability",
    "is_downgrade",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "open_bundle",
    "parse_version",
    "verify_bundle",
    "verify_manifest",
    "verify_payload",
    "write_keypair",
]
