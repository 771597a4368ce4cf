"""Capability tokens: authentic, unguessable, expiring, rotatable."""

from __future__ import annotations

import base64

import pytest

from gateway.media.capability import CapabilityGrant, CapabilitySigner, media_url
from gateway.media.errors import CapabilityError

SHA = "ab" * 32
NOW = 1_800_000_000
GRANT = CapabilityGrant(SHA, "campaign-7", "node-42", NOW + 3600)


def test_media_token_round_trip_names_image_campaign_and_node() -> None:
    signer = CapabilitySigner([b"s" * 32])
    assert signer.verify(signer.mint(GRANT), now=NOW) == GRANT


def test_media_tokens_differ_per_node_and_campaign() -> None:
    signer = CapabilitySigner([b"s" * 32])
    tokens = {
        signer.mint(GRANT),
        signer.mint(CapabilityGrant(SHA, "campaign-7", "node-43", NOW + 3600)),
        signer.mint(CapabilityGrant(SHA, "campaign-8", "node-42", NOW + 3600)),
    }
    assert len(tokens) == 3


def test_media_token_expires_with_the_campaign() -> None:
    signer = CapabilitySigner([b"s" * 32])
    token = signer.mint(GRANT)
    with pytest.raises(CapabilityError, match="expired"):
        signer.verify(token, now=GRANT.expires_at)


def test_media_token_from_another_secret_is_rejected() -> None:
    token = CapabilitySigner([b"a" * 32]).mint(GRANT)
    with pytest.raises(CapabilityError, match="not authentic"):
        CapabilitySigner([b"b" * 32]).verify(token, now=NOW)


def test_media_rotated_secret_still_verifies_old_urls() -> None:
    old = CapabilitySigner([b"old" * 11]).mint(GRANT)
    rotated = CapabilitySigner([b"new" * 11, b"old" * 11])
    assert rotated.verify(old, now=NOW) == GRANT
    assert rotated.verify(rotated.mint(GRANT), now=NOW) == GRANT


def _tamper(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [0, 1, 8, 9, 40, 41, -17, -1])
def test_media_any_flipped_bit_is_rejected(index: int) -> None:
    signer = CapabilitySigner([b"s" * 32])
    with pytest.raises(CapabilityError):
        signer.verify(_tamper(signer.mint(GRANT), index), now=NOW)


@pytest.mark.parametrize("token", ["", "a", "!!!!", "a" * 5000, "YWJj", "..%2f", "A" * 100])
def test_media_malformed_tokens_raise_capability_error(token: str) -> None:
    with pytest.raises(CapabilityError):
        CapabilitySigner([b"s" * 32]).verify(token, now=NOW)


@pytest.mark.parametrize(("grant", "message"), [
    (CapabilityGrant("AB" * 32, "c", "n", NOW), "image_sha256"),
    (CapabilityGrant(SHA, "", "n", NOW), "campaign_id"),
    (CapabilityGrant(SHA, "c", "n" * 65, NOW), "node_id"),
    (CapabilityGrant(SHA, "c", "n", 0), "expires_at"),
])
def test_media_mint_rejects_bad_fields(grant: CapabilityGrant, message: str) -> None:
    with pytest.raises(CapabilityError, match=message):
        CapabilitySigner([b"s" * 32]).mint(grant)


def test_media_short_secret_is_refused() -> None:
    with pytest.raises(CapabilityError, match="too short"):
        CapabilitySigner([b"short"])


def test_media_url_shape_and_filename_check() -> None:
    assert media_url("https://gw:8443/", "TOK", "q4.iso") == "https://gw:8443/media/TOK/q4.iso"
    with pytest.raises(CapabilityError, match="filename"):
        media_url("https://gw", "TOK", "../etc/passwd")
