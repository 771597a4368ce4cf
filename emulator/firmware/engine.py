"""Runs updates: Redfish update tasks (SimpleUpdate, multipart push) and the update CD.

When a flashed version takes effect depends on the package's ``reset``:
- none: at once (FirmwareInventory changes when the flash completes);
- host: at the next host reset (OnReset), or the BMC resets the host itself
  when the apply time is Immediate and the host is on;
- bmc: the BMC restarts after the task; its port refuses connections for
  bmc_restart_s and it comes back with the new version.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emulator.bmc import SYSTEM_URI, Bmc, BusyError
from emulator.errors import FirmwareError
from emulator.firmware import flash
from emulator.firmware.image_sessions import ImageSessions
from emulator.tasks import Task, TaskState
from firmware_payloads import BundleFormatError, BundleReader, Package, ResetKind

LOG = logging.getLogger(__name__)

UPDATE_TASK_NAME = "Firmware update"


@dataclass(frozen=True)
class UpdateRequest:
    """One update as a client asked for it.

    source: http(s) URL or local path of the bundle image.
    image: how messages name the image (the ImageURI or uploaded file name).
    components: only these components (from Targets); None = everything.
    apply_time: "Immediate" or "OnReset" (@Redfish.OperationApplyTime).
    cleanup: delete ``source`` when done (an uploaded file).
    body: the request's JSON parameters (Password removed), shown as the task's
      Payload.JsonBody as Redfish describes it: what the client asked for.
    """

    source: str
    image: str
    components: frozenset[str] | None = None
    force: bool = False
    apply_time: str = "Immediate"
    username: str | None = None
    password: str | None = None
    cleanup: bool = False
    body: str = ""


class FirmwareEngine:
    """The update logic shared by every BMC of a cluster.

    trusted_keys: the only keys a bundle may be signed with.
    max_image_bytes: cap for images read without HTTP Range.
    image_tls_verify: how https image URLs are checked: True (system CAs), a CA
      bundle path (a lab's own media server), or False.
    """

    def __init__(self, trusted_keys: Sequence[Ed25519PublicKey], max_image_bytes: int,
                 image_tls_verify: bool | str = True) -> None:
        self.trusted_keys = list(trusted_keys)
        self.max_image_bytes = max_image_bytes
        self.image_tls_verify = image_tls_verify
        self.image_sessions = ImageSessions()

    # Redfish update task -------------------------------------------------------------------
    def start_update(self, bmc: Bmc, request: UpdateRequest) -> Task:
        """Create the task and run the update on its own thread; returns at once."""
        payload = {"HttpOperation": "POST", "TargetUri": "/redfish/v1/UpdateService",
                   "JsonBody": request.body, "HttpHeaders": []}
        task = bmc.tasks.create(UPDATE_TASK_NAME, payload=payload)
        worked = task
        if "job-instead-of-task" in bmc.quirks:
            # Dell: the request's task hands the update to a Job and ends at once.
            worked = bmc.jobs.create(UPDATE_TASK_NAME, payload=payload)
            task.start()
            task.add_message("Update.OperationTransitionedToJob", worked.uri)
            task.complete()
        if "task-new-until-polled" in bmc.quirks:
            worked.early_states = [TaskState.NEW, TaskState.NEW,
                                   TaskState.STARTING, TaskState.STARTING]
        threading.Thread(target=self._run_task, args=(bmc, worked, request),
                         name=f"{bmc.id}-update-{worked.id}", daemon=True).start()
        return task

    def _run_task(self, bmc: Bmc, task: Task, request: UpdateRequest) -> None:
        try:
            task.start()
            task.add_message("Update.UpdateInProgress")
            self._update(bmc, task, request)
        except FirmwareError as exc:
            LOG.info("BMC %s task %s failed: %s", bmc.id, task.id, exc.detail)
            task.add_message(exc.message_id, request.image, exc.component)
            _audit_failure(bmc, exc, request.image, task.id, None)
            task.fail()
        except Exception:
            LOG.exception("BMC %s task %s: unexpected error", bmc.id, task.id)
            task.add_message("Update.ApplyFailed", request.image, "BMC")
            task.fail()
        finally:
            if request.cleanup:
                with contextlib.suppress(OSError):
                    os.unlink(request.source)

    def _update(self, bmc: Bmc, task: Task, request: UpdateRequest) -> None:
        with flash.open_image(bmc, request.source, max_bytes=self.max_image_bytes,
                              username=request.username, password=request.password,
                              tls_verify=self.image_tls_verify,
                              sessions=self.image_sessions) as reader:
            manifest = flash.check_signature(reader, self.trusted_keys)
            planned, refused = flash.plan(manifest, bmc.model, bmc.firmware.installed(),
                                          components=request.components, force=request.force)
            for refusal in refused:
                task.add_message(refusal.message_id, refusal.package.component, request.image)
                _audit_skipped(bmc, refusal.package, refusal.message_id, request.image, None)
            if not planned:
                if not refused:
                    task.add_message("Update.UpdateNotApplicable", request.image, bmc.model)
                task.fail()
                return
            for item in planned:
                task.add_message("Update.TargetDetermined", item.package.component,
                                 request.image)
            restart_bmc_to: str | None = None
            host_packages: list[Package] = []
            # The staged-until-host-reset quirk: every image but the BMC's waits for
            # the next host reset, whatever apply time was asked for.
            hinted = "staged-until-host-reset" in bmc.quirks
            staged_only = hinted or "staged-silently-until-host-reset" in bmc.quirks
            for index, item in enumerate(planned):
                pkg = item.package
                done = index / len(planned)
                share = 1 / len(planned)

                def report(fraction: float, base: float = done, part: float = share) -> None:
                    task.progress(int(100 * (base + part * fraction)) - 1)

                self._flash_one(bmc, reader, pkg, request.image, task, report)
                if pkg.reset == ResetKind.BMC:
                    restart_bmc_to = pkg.version
                    task.add_message("Update.UpdateSuccessful", pkg.component, request.image)
                elif pkg.reset == ResetKind.HOST or staged_only:
                    bmc.firmware.stage(pkg.component, pkg.version)
                    host_packages.append(pkg)
                else:
                    bmc.firmware.install(pkg.component, pkg.version, task=task.id)
                    task.add_message("Update.UpdateSuccessful", pkg.component, request.image)
            if staged_only:
                # iLO (BIOS) and iDRAC ("reboot pending"): the task simply completes; only
                # the images say they await activation (or, silently, nothing does),
                # nothing asks for the reset.
                for pkg in host_packages if hinted else ():
                    task.add_message("Update.AwaitToActivate", request.image, pkg.component)
            elif (host_packages and request.apply_time != "OnReset"
                  and self._reset_host_now(bmc)):
                for pkg in host_packages:
                    # Even when version_unchanged lost the activation: the task does not
                    # admit it, only the log does (contradictory signals, as real BMCs give).
                    task.add_message("Update.UpdateSuccessful", pkg.component, request.image)
            elif host_packages:
                for pkg in host_packages:
                    task.add_message("Update.AwaitToActivate", request.image, pkg.component)
                task.add_message("Base.ResetRequired", SYSTEM_URI, "ForceRestart")
                if "task-stopping-while-staged" in bmc.quirks:
                    task.stop_staged()  # bmcweb: Stopping until the reset (Bmc completes it)
        if task.state is not TaskState.STOPPING:
            task.complete()
        if restart_bmc_to is not None:
            self._restart_into(bmc, restart_bmc_to, task)

    def _flash_one(self, bmc: Bmc, reader: BundleReader, pkg: Package, image: str,
                   task: Task | None, report: flash.Progress, source: str | None = None
                   ) -> None:
        """Transfer, verify and write one package; audit (and so log and event) each end.
        source: "update_cd" when the CD's environment does it (results in the SEL too)."""
        before = bmc.firmware.version(pkg.component)
        bmc.audit.record(bmc.id, "flash_start", component=pkg.component, from_version=before,
                         to_version=pkg.version, task=task.id if task else None, image=image,
                         source=source)
        try:
            if task:
                task.add_message("Update.TransferringToComponent", image, pkg.component)
            flash.transfer_and_verify(bmc, reader, pkg, lambda f: report(0.3 * f))
            if task:
                task.add_message("Update.VerifyingAtComponent", image, pkg.component)
                task.add_message("Update.ApplyingOnComponent", image, pkg.component)
            flash.write_component(bmc, pkg, lambda f: report(0.3 + 0.7 * f))
        except FirmwareError as exc:
            bmc.audit.record(bmc.id, "flash_failed", component=pkg.component,
                             from_version=before, to_version=pkg.version, image=image,
                             task=task.id if task else None, reason=exc.detail,
                             message=exc.message_id, source=source)
            exc.audited = True
            raise

    def _reset_host_now(self, bmc: Bmc) -> bool:
        """Immediate apply time for host-reset packages: activate them now.

        A host that is off is flashed directly; a running host is reset by the
        BMC. False if the host is busy (the client must reset it later).
        """
        if bmc.power_state() == "Off":
            bmc.activate_pending_firmware()
            return True
        try:
            bmc.reset_host("ForceRestart")
        except BusyError:
            return False
        while bmc.host_transition:
            time.sleep(0.05)
        return True

    def _restart_into(self, bmc: Bmc, version: str, task: Task | None) -> None:
        def activate() -> None:
            bmc.activate_bmc_firmware(version, task.id if task else None)

        try:
            bmc.restart_bmc("BMC firmware update", on_back=activate, after_task=task)
        except BusyError:
            LOG.warning("BMC %s: already restarting; BMC %s applies at the next restart",
                        bmc.id, version)

    # the update CD -------------------------------------------------------------------------------
    def boot_update_cd(self, bmc: Bmc, image_url: str) -> None:
        """The host booted the update CD: apply what fits, restart the BMC into its new
        firmware if it was written, reboot to disk (no Redfish task).

        Called on the host-boot thread; every outcome is in the audit log.
        """
        restart_bmc_to: str | None = None
        left: list[Package] = []  # planned, not reached when a flash fails
        try:
            with flash.open_image(bmc, image_url, max_bytes=self.max_image_bytes,
                                  tls_verify=self.image_tls_verify,
                                  sessions=self.image_sessions) as reader:
                manifest = flash.check_signature(reader, self.trusted_keys)
                planned, refused = flash.plan(manifest, bmc.model, bmc.firmware.installed())
                for refusal in refused:
                    # The CD's environment reports every component of this model it leaves.
                    _audit_skipped(bmc, refusal.package, refusal.message_id, image_url,
                                   "update_cd")
                for index, item in enumerate(planned):
                    pkg = item.package
                    left = [later.package for later in planned[index + 1:]]
                    self._flash_one(bmc, reader, pkg, image_url, None, lambda _f: None,
                                    source="update_cd")
                    if pkg.reset == ResetKind.BMC:
                        restart_bmc_to = pkg.version
                    elif pkg.reset == ResetKind.HOST:
                        bmc.firmware.stage(pkg.component, pkg.version)
                    else:
                        bmc.firmware.install(pkg.component, pkg.version, source="update_cd")
        except FirmwareError as exc:
            if isinstance(exc.__cause__, BundleFormatError):
                # Not an update bundle (an OS installer, say): the host simply
                # runs whatever is on the CD; there is nothing for us to do.
                LOG.info("BMC %s: CD %s is not an update bundle: %s", bmc.id, image_url,
                         exc.detail)
                return
            LOG.info("BMC %s: update CD %s stopped: %s", bmc.id, image_url, exc.detail)
            _audit_failure(bmc, exc, image_url, None, "update_cd")
            for pkg in left:  # the CD stops at the first failure: these were not tried
                _audit_skipped(bmc, pkg, "Update.UpdateSkipped", image_url, "update_cd")
        if restart_bmc_to is not None:
            # The BMC activates its new firmware by restarting; the CD's environment waits
            # for it to come back before it ends its run (an in-band update reports its
            # results through the BMC), so the reboot to disk, the run's last act, comes
            # after every activation but the host's own (a client waits for that reboot).
            self._restart_into(bmc, restart_bmc_to, None)
            bmc.wait_restarted()
        bmc.reboot_host_to_disk()


def _audit_skipped(bmc: Bmc, pkg: Package, message_id: str, image: str,
                   source: str | None) -> None:
    """A component of this model the update leaves alone, and why (an Update message)."""
    bmc.audit.record(bmc.id, "flash_skipped", component=pkg.component,
                     from_version=bmc.firmware.version(pkg.component), to_version=pkg.version,
                     image=image, message=message_id, source=source)


def _audit_failure(bmc: Bmc, exc: FirmwareError, image: str, task_id: str | None,
                   source: str | None) -> None:
    """An update that stopped before any component was written (the image could not be
    read or its signature failed): audited once, like a component's failure."""
    if exc.audited:
        return
    bmc.audit.record(bmc.id, "flash_failed", component=exc.component, image=image,
                     task=task_id, reason=exc.detail, message=exc.message_id, source=source)
    exc.audited = True
