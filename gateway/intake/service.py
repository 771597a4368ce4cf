"""The intake application service: believe an alert or not, deduplicate, record, queue.

Every channel ends here: the CIM listener (`handle`), the CLI and the REST
API (`raise_alert`, `withdraw_image`). Nothing here does network I/O; fetching
is the acquisition worker's job, woken through `on_new_image`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from gateway.config import GatewayConfig, SourceConfig
from gateway.intake.alerts import (
    ImageWithdrawn,
    NotAnUpdateAlert,
    UpdateAlert,
    UpdateAvailable,
    image_withdrawn,
    update_available,
)
from gateway.intake.errors import UntrustedAlertError
from gateway.intake.trust import uri_allowed
from gateway.store import Decision, GatewayStore, NewAlert

LOG = logging.getLogger(__name__)

CHANNEL_CIM = "cim"
CHANNEL_CLI = "cli"
CHANNEL_REST = "rest"
CHANNEL_USB = "usb"


@dataclass(frozen=True)
class Outcome:
    """What the intake decided; `alert_id` is the stored audit record."""

    decision: Decision
    reason: str
    alert_id: int
    image_sha256: str | None = None
    untrusted: bool = False  # refused by the trust rules (not by the image's state)

    @property
    def refused(self) -> bool:
        """True when the alert was rejected (the sender should be told so)."""
        return self.decision == Decision.REJECTED


class IntakeService:
    """Trust decision, deduplication and recording of update alerts."""

    def __init__(self, config: GatewayConfig, store: GatewayStore,
                 on_new_image: Callable[[], None] | None = None) -> None:
        self.config = config
        self.store = store
        self._on_new_image = on_new_image or (lambda: None)

    def set_new_image_callback(self, callback: Callable[[], None]) -> None:
        """Call `callback` (e.g. wake the acquisition worker) when an image is queued."""
        self._on_new_image = callback

    def handle(self, alert: UpdateAlert | NotAnUpdateAlert, *, source: SourceConfig,
               channel: str, client_address: str | None = None) -> Outcome:
        """Decide about an alert from an identified source and record the decision."""
        if isinstance(alert, NotAnUpdateAlert):
            record = self.store.record_alert(NewAlert(
                channel=channel, decision=Decision.IGNORED, reason=alert.why,
                client_address=client_address, source=source.name,
                indication_identifier=alert.indication_identifier,
                message_id=alert.message_id))
            return Outcome(record.decision, record.reason, record.id)
        new = _new_alert(alert, source=source.name, channel=channel,
                         client_address=client_address)
        try:
            self._check_trust(alert, source)
        except UntrustedAlertError as exc:
            record = self.store.record_alert(_with(new, Decision.REJECTED, str(exc)))
            LOG.warning("rejected %s %s from source %s: %s", alert.message_id,
                        alert.indication_identifier, source.name, exc)
            return Outcome(record.decision, record.reason, record.id, alert.image_sha256,
                           untrusted=True)
        if isinstance(alert, UpdateAvailable):
            admission = self.store.admit_update(new)
        else:
            admission = self.store.admit_withdrawal(new)
        LOG.info("%s %s from source %s: %s (%s)", alert.message_id, alert.indication_identifier,
                 source.name, admission.alert.decision, admission.alert.reason)
        if admission.starts_acquisition:
            self._on_new_image()
        return Outcome(admission.alert.decision, admission.alert.reason, admission.alert.id,
                       alert.image_sha256)

    def admit_local(self, alert: NewAlert) -> Outcome:
        """Admit an FWUP0001 from a local source (a USB key, see intake.local_bundle).

        The caller has already verified the image into the cache, so the trust
        rules for URIs do not apply; deduplication and recording are the usual
        ones, and an accepted image wakes the worker, which finds it cached.
        """
        admission = self.store.admit_update(alert)
        LOG.info("local FWUP0001 %s from source %s: %s (%s)", alert.indication_identifier,
                 alert.source, admission.alert.decision, admission.alert.reason)
        if admission.starts_acquisition:
            self._on_new_image()
        return Outcome(admission.alert.decision, admission.alert.reason, admission.alert.id,
                       alert.image_sha256)

    def record_refusal(self, *, channel: str, reason: str, client_address: str | None = None,
                       source: str | None = None, message_id: str | None = None,
                       indication_identifier: str | None = None) -> Outcome:
        """Record a request refused before it could be read as an alert."""
        record = self.store.record_alert(NewAlert(
            channel=channel, decision=Decision.REJECTED, reason=reason,
            client_address=client_address, source=source, message_id=message_id,
            indication_identifier=indication_identifier))
        return Outcome(record.decision, record.reason, record.id)

    def _check_trust(self, alert: UpdateAlert, source: SourceConfig) -> None:
        if alert.owning_entity not in source.owning_entities:
            raise UntrustedAlertError(
                f"OwningEntity {alert.owning_entity!r} is not allowed for source {source.name!r}")
        if isinstance(alert, UpdateAvailable):
            for name, uri in (("ImageURI", alert.image_uri), ("ManifestURI", alert.manifest_uri)):
                if uri is None:
                    continue
                problem = uri_allowed(uri, source.image_uri_prefixes)
                if problem:
                    raise UntrustedAlertError(f"{name} refused: {problem}")

    # -- other triggers (CLI, REST) -----------------------------------------

    def raise_alert(self, *, source: str, image_uri: str, image_sha256: str, bundle_id: str,
                    release: str, manifest_uri: str | None = None,
                    description: str | None = None, indication_identifier: str | None = None,
                    channel: str = CHANNEL_CLI, owning_entity: str | None = None) -> Outcome:
        """Raise FWUP0001 without a CIM publisher, on behalf of configured `source`.

        The same trust rules apply as for CIM alerts (URI prefixes, signing keys).
        `owning_entity` defaults to the source's first allowed value;
        `indication_identifier` defaults to "<channel>:<sha256>" so raising the
        same image twice is a duplicate.
        Raises AlertFormatError for malformed values, UntrustedAlertError for an
        unknown source.
        """
        configured = self._source(source)
        args = [image_uri, image_sha256, bundle_id, release]
        if manifest_uri:
            args.append(manifest_uri)
        alert = update_available(
            indication_identifier=indication_identifier or f"{channel}:{image_sha256}",
            owning_entity=owning_entity or configured.owning_entities[0],
            arguments=args, description=description)
        return self.handle(alert, source=configured, channel=channel)

    def withdraw_image(self, *, source: str, bundle_id: str, image_sha256: str,
                       indication_identifier: str | None = None,
                       channel: str = CHANNEL_CLI) -> Outcome:
        """Raise FWUP0002 without a CIM publisher, on behalf of configured `source`."""
        configured = self._source(source)
        alert = image_withdrawn(
            indication_identifier=indication_identifier or f"{channel}:withdraw:{image_sha256}",
            owning_entity=configured.owning_entities[0], arguments=[bundle_id, image_sha256])
        return self.handle(alert, source=configured, channel=channel)

    def _source(self, name: str) -> SourceConfig:
        configured = self.config.source(name)
        if configured is None:
            known = ", ".join(s.name for s in self.config.sources) or "none"
            raise UntrustedAlertError(f"unknown source {name!r} (configured: {known})")
        return configured


def _new_alert(alert: UpdateAlert, *, source: str, channel: str,
               client_address: str | None) -> NewAlert:
    new = NewAlert(channel=channel, decision=Decision.ACCEPTED, reason="",
                   client_address=client_address, source=source,
                   indication_identifier=alert.indication_identifier,
                   message_id=alert.message_id, owning_entity=alert.owning_entity,
                   image_sha256=alert.image_sha256, bundle_id=alert.bundle_id,
                   description=alert.description)
    if isinstance(alert, ImageWithdrawn):
        return new
    return replace(new, image_uri=alert.image_uri, manifest_uri=alert.manifest_uri,
                   release=alert.release)


def _with(alert: NewAlert, decision: Decision, reason: str) -> NewAlert:
    return replace(alert, decision=decision, reason=reason)
