"""Images that are already on this machine (copied off a USB key): verify, cache, record.

"Insert the update key once, update the whole cluster." A local source (the
[usb] section) hands over a bundle it has staged in a local file. The staging
is never trusted: the bundle is copied into the image cache's partial area and
becomes visible only when the cache re-hashes it and the source's trusted keys
verify its signature and every payload. Then an FWUP0001 is recorded on the
`usb` channel as if the source had raised it, with an IndicationIdentifier
derived from the key and the digest, so plugging the same key in again is a
duplicate. Nothing is downloaded.

The image row then takes the usual road through the acquisition worker: it
finds the image verified in the cache, checks the signature once more against
the source's keys and marks it verified, which is what the orchestrator waits
for. The worker resolves the source through `with_local_source`; a local
source has no URI prefixes, so even a lost cache file can never turn into a
fetch.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import firmware_payloads as fp
from gateway.config import GatewayConfig, SourceConfig
from gateway.intake.alerts import MAX_IDENTIFIER, MSG_UPDATE_AVAILABLE
from gateway.intake.errors import IntakeError
from gateway.intake.service import CHANNEL_USB, IntakeService, Outcome
from gateway.media.cache import CacheFullError, DigestMismatchError, ImageCache, check_sha256
from gateway.store import Decision, ImageState, NewAlert, NotFoundError

LOG = logging.getLogger(__name__)
_COPY_CHUNK = 1 << 20
_KEEP_CACHED = (ImageState.PENDING, ImageState.DOWNLOADING, ImageState.VERIFIED)


class LocalBundleError(IntakeError):
    """A locally staged bundle was refused (digest, signature, cache room or file access)."""


@dataclass(frozen=True)
class LocalBundle:
    """A bundle file on this machine, as a local source hands it over.

    path: the staged copy (deleted once handled); sha256: what the source says it
    hashes to (lowercase hex, re-checked); device: where it came from, e.g. the key's
    "VID:PID serial"; name: its path on that device.
    """

    path: Path
    sha256: str
    device: str
    name: str


def local_source(name: str, trusted_key_paths: tuple[Path, ...],
                 trusted_keys: tuple[Ed25519PublicKey, ...]) -> SourceConfig:
    """A source that vouches for images by signature only.

    It has no client ranges, no listener credentials and no URI prefixes: nothing
    can raise an alert through it over the network and it can make the gateway
    fetch nothing.
    """
    return SourceConfig(name=name, clients=(), username="", password_hash="",
                        owning_entities=(), image_uri_prefixes=(),
                        trusted_key_paths=trusted_key_paths, trusted_keys=trusted_keys)


def with_local_source(config: GatewayConfig, source: SourceConfig) -> GatewayConfig:
    """`config` with `source` added, for the acquisition worker only (the listener and
    the CLI keep the file's [[sources]]). Raises LocalBundleError on a name clash."""
    if config.source(source.name) is not None:
        raise LocalBundleError(
            f"usb.source {source.name!r} is also the name of a [[sources]] entry; give the "
            "USB source a name of its own")
    return replace(config, sources=(*config.sources, source))


def indication_identifier(device: str, sha256: str) -> str:
    """"usb:<device>:<sha256>": the same key with the same image is the same alert."""
    identifier = f"{CHANNEL_USB}:{device}:{sha256}"
    if len(identifier) <= MAX_IDENTIFIER:
        return identifier
    digest = hashlib.sha256(device.encode("utf-8", "replace")).hexdigest()[:32]
    return f"{CHANNEL_USB}:{digest}:{sha256}"


class LocalBundleIntake:
    """Promotes locally staged bundles into the cache and records them as FWUP0001."""

    def __init__(self, intake: IntakeService, cache: ImageCache, source: SourceConfig,
                 channel: str = CHANNEL_USB) -> None:
        if not source.trusted_keys:
            raise LocalBundleError(f"local source {source.name!r} has no trusted keys")
        self.intake = intake
        self.cache = cache
        self.source = source
        self.channel = channel

    def accept(self, bundle: LocalBundle) -> Outcome:
        """Verify `bundle` into the cache and record the alert; the staged file is deleted.

        Decisions: accepted (new image; the worker marks it verified), duplicate
        (same key again, or the image is already known), rejected (wrong digest or
        signature, withdrawn image, no room in the cache). A refused bundle leaves
        nothing in the cache. Raises StoreError only when the database is unusable.
        """
        try:
            return self._accept(bundle)
        finally:
            _discard(bundle.path)

    def _accept(self, bundle: LocalBundle) -> Outcome:
        alert = NewAlert(
            channel=self.channel, decision=Decision.ACCEPTED, reason="", source=self.source.name,
            indication_identifier=indication_identifier(bundle.device, bundle.sha256),
            message_id=MSG_UPDATE_AVAILABLE, image_sha256=bundle.sha256,
            image_uri=_origin_uri(bundle), description=f"{bundle.name} on {bundle.device}")
        try:
            check_sha256(bundle.sha256)
        except ValueError as exc:
            return self._refuse(replace(alert, image_sha256=None), bundle, str(exc))
        state = self._image_state(bundle.sha256)
        copy = self.cache.verified_path(bundle.sha256) is None and state not in (
            ImageState.PENDING, ImageState.DOWNLOADING, ImageState.WITHDRAWN)
        try:
            manifest = self._promote(bundle) if copy else self._verify_in_place(bundle)
        except LocalBundleError as exc:
            return self._refuse(alert, bundle, str(exc))
        outcome = self.intake.admit_local(replace(alert, bundle_id=manifest.bundle_id,
                                                  release=manifest.release))
        if copy and self._image_state(bundle.sha256) not in _KEEP_CACHED:
            # Withdrawn meanwhile, or a replay of an image that failed before: the copy
            # must not linger in the cache.
            self.cache.remove(bundle.sha256)
        LOG.info("%s bundle %s (%s) from %s: %s (%s)", self.channel, manifest.bundle_id,
                 bundle.sha256[:12], bundle.device, outcome.decision, outcome.reason)
        return outcome

    def _refuse(self, alert: NewAlert, bundle: LocalBundle, problem: str) -> Outcome:
        reason = f"bundle {bundle.name} from {bundle.device} refused: {problem}"
        LOG.warning("%s: %s", self.channel, reason)
        record = self.intake.store.record_alert(
            replace(alert, decision=Decision.REJECTED, reason=reason))
        return Outcome(record.decision, record.reason, record.id, alert.image_sha256)

    def _image_state(self, sha256: str) -> ImageState | None:
        try:
            return self.intake.store.get_image(sha256).state
        except NotFoundError:
            return None

    def _promote(self, bundle: LocalBundle) -> fp.Manifest:
        """Copy into the cache's partial area, then let the cache hash and us verify it."""
        sha = bundle.sha256
        try:
            size = bundle.path.stat().st_size
            self.cache.make_room(size, pinned=self.intake.store.referenced_digests() | {sha})
            with bundle.path.open("rb") as staged, \
                    self.cache.open_partial(sha, resume=False) as partial:
                shutil.copyfileobj(staged, partial, _COPY_CHUNK)
        except CacheFullError as exc:
            raise LocalBundleError(str(exc)) from exc
        except OSError as exc:
            self.cache.discard_partial(sha)
            raise LocalBundleError(f"cannot copy the staged bundle into the cache: "
                                   f"{exc.strerror}") from exc
        verified: list[fp.Manifest] = []
        try:
            self.cache.promote(sha, lambda path: verified.append(self._verify(path)))
        except DigestMismatchError as exc:
            raise LocalBundleError(
                f"the staged copy does not hash to {sha} (changed after it was staged)") from exc
        except OSError as exc:
            raise LocalBundleError(f"cannot publish the bundle in the cache: {exc.strerror}"
                                   ) from exc
        return verified[0]

    def _verify_in_place(self, bundle: LocalBundle) -> fp.Manifest:
        """For an image the cache already has or will get otherwise: still prove the
        staged bytes are what they claim before recording anything about them."""
        digest = hashlib.sha256()
        try:
            with bundle.path.open("rb") as staged:
                while chunk := staged.read(_COPY_CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise LocalBundleError(f"cannot read the staged bundle: {exc.strerror}"
                                   ) from exc
        if digest.hexdigest() != bundle.sha256:
            raise LocalBundleError(f"the staged copy does not hash to {bundle.sha256} "
                                   "(changed after it was staged)")
        return self._verify(bundle.path)

    def _verify(self, path: Path) -> fp.Manifest:
        try:
            with fp.open_bundle(path) as reader:
                return fp.verify_bundle(reader, self.source.trusted_keys, check_payloads=True)
        except fp.BundleError as exc:
            raise LocalBundleError(
                f"verification against the trusted keys of source {self.source.name!r} "
                f"failed: {exc}") from exc


def _origin_uri(bundle: LocalBundle) -> str:
    """Where the image came from, for the record: usb:VID:PID/SERIAL/path/on/key.iso."""
    return f"{CHANNEL_USB}:{bundle.device.replace(' ', '/')}/{bundle.name.lstrip('/')}"


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        LOG.warning("cannot remove staged bundle %s: %s", path, exc.strerror)
