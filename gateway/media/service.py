"""Wiring the media server from configuration (used by `media serve` and `gateway serve`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from gateway.config import ConfigError, GatewayConfig
from gateway.frontdoor import front_door_policy
from gateway.media.capability import (
    CapabilityGrant,
    CapabilitySigner,
    media_url,
    token_in_url,
)
from gateway.media.catalog import MediaCatalog, VerifiedDirectoryCatalog
from gateway.media.config import MediaConfig, media_config
from gateway.media.errors import CapabilityError, MediaConfigError
from gateway.media.server import MediaServer, ServerLimits, make_tls_context


@dataclass(frozen=True)
class MediaUrls:
    """Mints the capability URLs the orchestrator hands to BMCs."""

    signer: CapabilitySigner
    base_url: str

    def url_for(self, *, image_sha256: str, campaign_id: str, node_id: str, expires_at: int,
                filename: str = "image.iso") -> str:
        """URL for one node of one campaign; expires_at is Unix seconds (campaign end).

        Raises CapabilityError for a malformed digest, id or filename.
        """
        grant = CapabilityGrant(image_sha256, campaign_id, node_id, expires_at)
        return media_url(self.base_url, self.signer.mint(grant), filename)

    def grant_of(self, url: str) -> CapabilityGrant | None:
        """The grant of a capability URL a gateway of this deployment minted (they share
        the media secret; any gateway's base URL, expired or not), None for any other
        URL: a URL whose MAC verifies is provably the fleet's own media."""
        token = token_in_url(url)
        if token is None:
            return None
        try:
            return self.signer.authentic(token)
        except CapabilityError:
            return None


def build_media(config: GatewayConfig, *, catalog: MediaCatalog | None = None
                ) -> tuple[MediaServer, MediaUrls, MediaConfig]:
    """A (not yet started) MediaServer, its URL minter and the validated [media] section.

    `catalog` defaults to VerifiedDirectoryCatalog over the cache directory with
    [media] withdrawn; the full gateway passes a CacheBackedCatalog that also
    checks campaigns. Raises MediaConfigError naming the problem.
    """
    settings = media_config(config)
    try:
        signer = CapabilitySigner(settings.load_secrets())
    except CapabilityError as exc:
        raise MediaConfigError(str(exc)) from exc
    tls = None
    if settings.https is not None:
        assert settings.certfile is not None and settings.keyfile is not None
        tls = make_tls_context(settings.certfile, settings.keyfile)
    server = MediaServer(
        signer,
        catalog or VerifiedDirectoryCatalog(settings.image_dir, settings.withdrawn),
        http=settings.http, https=settings.https, tls_context=tls,
        nginx_root=settings.nginx_root,
        limits=_limits(config, settings),
    )
    return server, MediaUrls(signer, settings.base_url), settings


def _limits(config: GatewayConfig, settings: MediaConfig) -> ServerLimits:
    """[front_door.media], with the older [media] max_connections taking precedence."""
    try:
        policy = front_door_policy(config, "media")
    except ConfigError as exc:
        raise MediaConfigError(str(exc)) from exc
    if settings.max_connections is not None:
        policy = replace(policy, max_connections=settings.max_connections,
                         max_connections_per_client=min(policy.max_connections_per_client,
                                                        settings.max_connections))
    return ServerLimits.from_policy(policy)
