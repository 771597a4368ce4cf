"""Capability tokens: unguessable, stateless, per-campaign-and-node media URLs.

A BMC attaching virtual media usually cannot send credentials, so the URL itself
is the credential. Tokens are HMAC-SHA256 signed by a server secret shared by
every gateway of a deployment (no token table to replicate), carry their expiry
(the campaign's end) and name the image, campaign and node, so bytes served can
be counted per image and per node. Withdrawal and campaign cancellation are not
in the token: the server checks them on every request through its MediaCatalog.

Wire format (then base64url without padding):

    version(1) | expires_at(u64 big-endian, Unix seconds) | sha256(32)
    | len(campaign)(1) | campaign utf-8 | len(node)(1) | node utf-8 | mac(16)

The 128-bit truncated MAC is the unguessable part (RFC 2104 §5 allows truncation
to >= half the hash length).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.media.errors import CapabilityError

TOKEN_VERSION = 1
MAC_BYTES = 16
MIN_SECRET_BYTES = 32
MAX_ID_BYTES = 64
# Longest possible token in characters; the HTTP parser rejects longer paths early.
MAX_TOKEN_CHARS = 4 * (1 + 8 + 32 + 2 * (1 + MAX_ID_BYTES) + MAC_BYTES + 2) // 3 + 4
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_HEADER = struct.Struct(">BQ32s")
# Authentic tokens remembered (their grants), so a BMC reading its CD in many range
# requests costs one MAC check, not one per request. Bounded: about 0.5 KB each.
VERIFIED_TOKENS = 16384


@dataclass(frozen=True, slots=True)  # VERIFIED_TOKENS of them are kept
class CapabilityGrant:
    """What an authentic token allows: one node reading one image for one campaign.

    image_sha256: lowercase hex; expires_at: Unix seconds (UTC).
    """

    image_sha256: str
    campaign_id: str
    node_id: str
    expires_at: int


class CapabilitySigner:
    """Mints and checks capability tokens with a server secret.

    `secrets[0]` signs; every secret in the sequence verifies, so a deployment can
    rotate the secret without breaking URLs already handed to BMCs.
    """

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise CapabilityError("at least one media secret is required")
        for secret in secrets:
            if len(secret) < MIN_SECRET_BYTES:
                raise CapabilityError(
                    f"media secret is too short ({len(secret)} bytes; need {MIN_SECRET_BYTES})"
                )
        self._secrets = tuple(bytes(s) for s in secrets)
        self._authentic: dict[str, CapabilityGrant] = {}
        self._lock = threading.Lock()  # the media server's loops share one signer

    def mint(self, grant: CapabilityGrant) -> str:
        """Return the URL-safe token for `grant`. Raises CapabilityError on bad fields."""
        if not _SHA256_RE.match(grant.image_sha256):
            raise CapabilityError("image_sha256 must be 64 lowercase hex digits")
        if not 0 < grant.expires_at < 2**63:
            raise CapabilityError("expires_at must be a positive Unix time in seconds")
        campaign = _id_bytes(grant.campaign_id, "campaign_id")
        node = _id_bytes(grant.node_id, "node_id")
        body = (
            _HEADER.pack(TOKEN_VERSION, grant.expires_at, bytes.fromhex(grant.image_sha256))
            + bytes([len(campaign)]) + campaign + bytes([len(node)]) + node
        )
        mac = _mac(self._secrets[0], body)
        return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode("ascii")

    def verify(self, token: str, *, now: float | None = None) -> CapabilityGrant:
        """Authenticate `token` and return its grant.

        Raises CapabilityError when the token is malformed, its MAC matches no
        secret, or it expired (expires_at <= now, seconds).
        """
        grant = self.authentic(token)
        if grant.expires_at <= (time.time() if now is None else now):
            raise CapabilityError("capability token has expired")
        return grant

    def authentic(self, token: str) -> CapabilityGrant:
        """The grant of `token` when one of these secrets signed it, expired or not: who
        minted it, not whether it may still be served (the gateway's proof that media in
        a BMC's virtual CD is its own). Raises CapabilityError otherwise."""
        known = self._authentic.get(token)
        if known is not None:
            return known
        body, mac = _split(token)
        if not any(hmac.compare_digest(_mac(s, body), mac) for s in self._secrets):
            raise CapabilityError("capability token is not authentic")
        grant = _decode_body(body)
        with self._lock:
            if len(self._authentic) >= VERIFIED_TOKENS:
                self._authentic.clear()  # a new wave of URLs: start again
            self._authentic[token] = grant
        return grant


def token_in_url(url: str) -> str | None:
    """The token of a URL shaped like media_url's (any base URL), None otherwise."""
    try:
        parts = urlsplit(url).path.split("/")
    except ValueError:  # e.g. a malformed IPv6 host: not a URL the gateway minted
        return None
    if len(parts) < 3 or parts[-3] != "media":
        return None
    return parts[-2]


def media_url(base_url: str, token: str, filename: str = "image.iso") -> str:
    """The URL a BMC is given: BASE/media/TOKEN/FILENAME.

    The filename is cosmetic (several BMCs insist the URL ends in .iso); the server
    ignores it. It must be 1-128 characters of letters, digits, '.', '_' or '-'.
    """
    if not re.match(r"^[A-Za-z0-9._-]{1,128}$", filename):
        raise CapabilityError("media filename must be 1-128 letters, digits, '.', '_' or '-'")
    return f"{base_url.rstrip('/')}/media/{token}/{filename}"


def _id_bytes(value: str, name: str) -> bytes:
    raw = value.encode("utf-8")
    if not 0 < len(raw) <= MAX_ID_BYTES:
        raise CapabilityError(f"{name} must be 1-{MAX_ID_BYTES} bytes of UTF-8")
    return raw


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.digest(secret, body, "sha256")[:MAC_BYTES]  # one C call (hmac.new: several)


def _split(token: str) -> tuple[bytes, bytes]:
    if not token or len(token) > MAX_TOKEN_CHARS or not _TOKEN_RE.match(token):
        raise CapabilityError("capability token is malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CapabilityError("capability token is malformed") from exc
    if len(raw) < _HEADER.size + 2 + MAC_BYTES:
        raise CapabilityError("capability token is malformed")
    return raw[:-MAC_BYTES], raw[-MAC_BYTES:]


def _decode_body(body: bytes) -> CapabilityGrant:
    # Only reached for bodies the server itself signed, but parsed defensively anyway.
    version, expires_at, digest = _HEADER.unpack_from(body)
    if version != TOKEN_VERSION:
        raise CapabilityError("capability token version is not supported")
    offset = _HEADER.size
    fields: list[str] = []
    for _ in range(2):
        if offset >= len(body):
            raise CapabilityError("capability token is malformed")
        length = body[offset]
        value = body[offset + 1: offset + 1 + length]
        if len(value) != length or length == 0:
            raise CapabilityError("capability token is malformed")
        try:
            fields.append(value.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CapabilityError("capability token is malformed") from exc
        offset += 1 + length
    if offset != len(body):
        raise CapabilityError("capability token is malformed")
    return CapabilityGrant(digest.hex(), fields[0], fields[1], expires_at)
