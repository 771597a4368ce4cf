"""Capability tokens: authentic, unguessable, expiring, rotatable."""

from __future__ import annotations

import base64

import pytest

from gateway.media.capability import CapabilityGrant, CapabilitySigner, media_url
from gateway.media.errors import CapabilityError
from gateway.media.service import MediaUrls

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


def test_a_url_the_fleet_minted_is_known_by_its_grant_whatever_its_host_or_age() -> None:
    """How a gateway proves a CD in a BMC's slot is its own (docs/orchestration.md,
    "The gateway's own media"): the MAC, not the host, not the expiry."""
    urls = MediaUrls(CapabilitySigner([b"s" * 32]), "https://gw-a.example:8443")
    url = urls.url_for(image_sha256=SHA, campaign_id="campaign-7", node_id="node-42",
                       expires_at=1)  # long expired
    assert urls.grant_of(url) == CapabilityGrant(SHA, "campaign-7", "node-42", 1)
    peer = url.replace("https://gw-a.example:8443", "http://127.0.0.1:9")  # another member
    assert urls.grant_of(peer) == CapabilityGrant(SHA, "campaign-7", "node-42", 1)
    # After a rotation the previous secret still proves it.
    rotated = MediaUrls(CapabilitySigner([b"n" * 32, b"s" * 32]), "https://gw-a.example")
    assert rotated.grant_of(url) is not None


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/operator-rescue.iso",
    "http://127.0.0.1:9/media/not-a-token/image.iso",
    "http://[::1/media/x/image.iso",  # not even a URL
    "",
])
def test_anything_else_is_not_the_fleets(url: str) -> None:
    urls = MediaUrls(CapabilitySigner([b"s" * 32]), "http://127.0.0.1:1")
    assert urls.grant_of(url) is None


def test_a_url_signed_with_another_secret_or_altered_is_not_the_fleets() -> None:
    ours = MediaUrls(CapabilitySigner([b"s" * 32]), "http://127.0.0.1:1")
    theirs = MediaUrls(CapabilitySigner([b"t" * 32]), "http://127.0.0.1:1")
    url = theirs.url_for(image_sha256=SHA, campaign_id="c", node_id="n", expires_at=NOW)
    assert ours.grant_of(url) is None
    mine = ours.url_for(image_sha256=SHA, campaign_id="c", node_id="n", expires_at=NOW)
    base, token, name = mine.rsplit("/", 2)
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert ours.grant_of(f"{base}/{altered}/{name}") is None


def test_media_a_remembered_token_still_expires_and_forgeries_are_never_remembered() -> None:
    signer = CapabilitySigner([b"s" * 32])
    token = signer.mint(GRANT)
    assert signer.verify(token, now=NOW) == GRANT  # remembered from here on
    assert signer.verify(token, now=NOW) == GRANT
    with pytest.raises(CapabilityError, match="expired"):
        signer.verify(token, now=GRANT.expires_at)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for _ in range(2):  # a rejected token is checked afresh every time
        with pytest.raises(CapabilityError):
            signer.verify(forged, now=NOW)
    other = CapabilitySigner([b"t" * 32])
    with pytest.raises(CapabilityError, match="not authentic"):
        other.verify(token, now=NOW)  # what one signer remembers is its own


def test_media_remembering_tokens_is_bounded() -> None:
    from gateway.media import capability

    signer = CapabilitySigner([b"s" * 32])
    grants = [CapabilityGrant(SHA, "campaign-7", f"node-{i}", NOW + 3600)
              for i in range(capability.VERIFIED_TOKENS + 10)]
    tokens = [signer.mint(grant) for grant in grants]
    for token, grant in zip(tokens, grants, strict=True):
        assert signer.verify(token, now=NOW) == grant
    assert len(signer._authentic) <= capability.VERIFIED_TOKENS  # noqa: SLF001
    assert signer.verify(tokens[0], now=NOW) == grants[0]  # forgotten: checked again
