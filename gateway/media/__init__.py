"""MSC fan-out: verified images served to many BMCs at once, and the USB key source.

Public names: MediaServer, CapabilitySigner, CapabilityGrant, media_url,
MediaCatalog, ServableImage, TransferCounters, MediaError. See docs/media.md.
"""

from gateway.media.capability import CapabilityGrant, CapabilitySigner, media_url
from gateway.media.catalog import (
    CacheBackedCatalog,
    CampaignGate,
    MediaCatalog,
    ServableImage,
    VerifiedDirectoryCatalog,
    VerifiedImageSource,
)
from gateway.media.errors import CapabilityError, MediaConfigError, MediaError
from gateway.media.server import MediaServer, ServerLimits, make_tls_context
from gateway.media.transfer_stats import TransferCounters, TransferSnapshot

__all__ = [
    "CacheBackedCatalog", "CampaignGate", "CapabilityError", "CapabilityGrant",
    "CapabilitySigner", "MediaCatalog", "MediaConfigError", "MediaError", "MediaServer",
    "ServableImage", "ServerLimits", "TransferCounters", "TransferSnapshot",
    "VerifiedDirectoryCatalog", "VerifiedImageSource", "make_tls_context", "media_url",
]
