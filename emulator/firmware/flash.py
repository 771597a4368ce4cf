"""The steps a BMC takes to put one bundle package onto a component.

open -> verify the manifest signature -> decide what applies -> per package:
transfer (only that payload's bytes) -> verify size and sha256 -> apply for the
configured time. Faults hook in where a real BMC would fail. Both the Redfish
update task and the update CD the host boots use these steps.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emulator.bmc import Bmc
from emulator.errors import FirmwareError
from emulator.faults import FaultKind
from emulator.firmware.image_sessions import ImageSessions
from firmware_payloads import (
    BundleError,
    BundleReader,
    FetchError,
    Manifest,
    Package,
    SignatureError,
    SizeLimitError,
    explain_applicability,
    open_bundle,
    verify_manifest,
)

LOG = logging.getLogger(__name__)

Progress = Callable[[float], None]  # fraction 0..1 of the current package's work


@dataclass(frozen=True)
class PlannedPackage:
    """A package that will be flashed; ``forced`` when ForceUpdate overrode the policy."""

    package: Package
    forced: bool = False


@dataclass(frozen=True)
class Refusal:
    """A package that will not be flashed and the Update registry message saying why."""

    package: Package
    message_id: str


@contextmanager
def open_image(bmc: Bmc, source: str, *, max_bytes: int, username: str | None = None,
               password: str | None = None, tls_verify: bool | str = True,
               sessions: ImageSessions | None = None) -> Iterator[BundleReader]:
    """The bundle at a URL or local file, open for the ``with`` block;
    FirmwareError(TransferFailed/VerificationFailed) when it cannot be opened.

    tls_verify: as requests' ``verify``: True (system CAs), a CA bundle path, or False.
    sessions: where a plain http read without credentials borrows its session.
    """
    if bmc.faults.hit(FaultKind.DOWNLOAD_FAILS):
        raise FirmwareError("Update.TransferFailed", "BMC",
                            "fault: the image could not be downloaded")
    session = None
    lent = sessions is not None and username is None and source.startswith("http://")
    if lent and sessions is not None:
        session = sessions.take()
    elif username is not None or tls_verify is not True:
        session = requests.Session()
        session.verify = tls_verify
        if tls_verify is not True:
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override
            # Session.verify; an emulated BMC does not read our environment.
            session.trust_env = False
        if username is not None:
            session.auth = (username, password or "")
    try:
        try:
            reader = open_bundle(source, max_stream_bytes=max_bytes, timeout=30.0,
                                 session=session)
        except (FetchError, SizeLimitError) as exc:
            raise FirmwareError("Update.TransferFailed", "BMC", str(exc)) from exc
        except BundleError as exc:
            raise FirmwareError("Update.VerificationFailed", "BMC", str(exc)) from exc
        with reader:
            yield reader
    finally:
        if lent and sessions is not None and session is not None:
            sessions.give_back(session)
        elif session is not None:
            session.close()


def check_signature(reader: BundleReader, trusted_keys: Iterable[Ed25519PublicKey]) -> Manifest:
    """The manifest, verified against the BMC's trusted keys (VerificationFailed otherwise)."""
    try:
        return verify_manifest(reader.manifest_bytes, reader.signature, trusted_keys)
    except SignatureError as exc:
        raise FirmwareError("Update.VerificationFailed", "BMC", str(exc)) from exc
    except BundleError as exc:
        raise FirmwareError("Update.VerificationFailed", "BMC", str(exc)) from exc


def plan(
    manifest: Manifest,
    model: str,
    installed: dict[str, str],
    *,
    components: frozenset[str] | None = None,
    force: bool = False,
) -> tuple[list[PlannedPackage], list[Refusal]]:
    """What to flash on this BMC, in dependency order, and what is refused.

    components: only these components (from Targets); None = all.
    force: ForceUpdate also flashes same or older versions for this model.
    """
    decisions = explain_applicability(manifest, model, installed)
    action = {d.package.id: d.action for d in decisions}
    planned: list[PlannedPackage] = []
    refused: list[Refusal] = []
    for decision in decisions:
        pkg = decision.package
        if decision.action == "not_applicable_model":
            continue
        if components is not None and pkg.component not in components:
            refused.append(Refusal(pkg, "Update.UpdateSkipped"))
        elif decision.action == "apply":
            planned.append(PlannedPackage(pkg))
        elif decision.action == "skip_not_newer" and force:
            planned.append(PlannedPackage(pkg, forced=True))
        elif decision.action == "skip_not_newer":
            same = pkg.version_scheme.compare(installed[pkg.component], pkg.version) == 0
            refused.append(Refusal(pkg, "Update.UpdateSkippedSameVersion" if same
                                   else "Update.UpdateSkipped"))
        elif decision.action == "below_min_from_version":
            refused.append(Refusal(pkg, "Update.UpdateSkippedVersionTooLow"))
        else:
            refused.append(Refusal(pkg, "Update.UpdateSkipped"))
    # Targets may leave out a dependency that still has to be applied first:
    # then the dependent package cannot go either (repeat: it may cascade).
    changed = True
    while changed:
        changed = False
        chosen = {item.package.id for item in planned}
        for item in list(planned):
            if any(action.get(dep) == "apply" and dep not in chosen
                   for dep in item.package.requires):
                planned.remove(item)
                refused.append(Refusal(item.package, "Update.UpdateSkipped"))
                changed = True
    return planned, refused


def transfer_and_verify(bmc: Bmc, reader: BundleReader, pkg: Package,
                        progress: Progress) -> None:
    """Read only this payload's bytes and check them against the signed manifest."""
    digest = hashlib.sha256()
    size = 0
    corrupt = bmc.faults.hit(FaultKind.IMAGE_CORRUPT, pkg.component) is not None
    try:
        for chunk in reader.iter_payload(pkg, chunk_size=256 << 10):
            if corrupt and size == 0 and chunk:
                # The fault: one flipped bit on the wire, as a bad link would do.
                chunk = bytes([chunk[0] ^ 0x01]) + chunk[1:]
            digest.update(chunk)
            size += len(chunk)
            progress(min(1.0, size / max(1, pkg.size)))
    except FetchError as exc:
        raise FirmwareError("Update.TransferFailed", pkg.component, str(exc)) from exc
    except BundleError as exc:
        raise FirmwareError("Update.VerificationFailed", pkg.component, str(exc)) from exc
    if size != pkg.size or digest.hexdigest() != pkg.sha256:
        raise FirmwareError(
            "Update.VerificationFailed", pkg.component,
            f"payload of {pkg.id} does not match the signed manifest (size or sha256)",
        )


def write_component(bmc: Bmc, pkg: Package, progress: Progress,
                    still_wanted: Callable[[], bool] = lambda: True) -> None:
    """Spend flash_s seconds "writing" the component; ApplyFailed on the flash fault.

    With the task_hangs fault the write stalls (no progress) until it is cleared.
    """
    steps = 10
    for step in range(1, steps + 1):
        while bmc.faults.active(FaultKind.TASK_HANGS) and still_wanted():
            time.sleep(0.05)
        time.sleep(bmc.timings.flash_s / steps)
        if step == steps // 2 and bmc.faults.hit(FaultKind.FLASH_FAILS, pkg.component):
            raise FirmwareError("Update.ApplyFailed", pkg.component,
                                "fault: writing the component failed")
        progress(step / steps)
