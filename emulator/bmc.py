"""One emulated BMC: identity, accounts, tasks, events, faults and its host.

Host operations that take time (resets, BMC restarts) run on their own
short-lived thread so the HTTP worker answers at once, as a real BMC does.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator import bmc_restart
from emulator.accounts import AccountStore, Role, SessionStore
from emulator.audit import AuditLog
from emulator.backends.base import BootDevice, HostBackend, PowerState
from emulator.certificates import BmcCertificate
from emulator.clock import ManagerClock
from emulator.config import NodeSpec
from emulator.events import EventDelivery, EventService
from emulator.faults import FaultKind, FaultSet
from emulator.firmware.state import FirmwareState
from emulator.jobs import Job
from emulator.logs import BmcLogs
from emulator.network import NetworkSettings
from emulator.personalities import personality
from emulator.quirks import RESHAPED_BY_BMC_UPDATE, parse_quirks
from emulator.tasks import Task, TaskState, TaskStore

LOG = logging.getLogger(__name__)
RESHAPE = "reshaped-by-bmc-update"

SYSTEM_URI = "/redfish/v1/Systems/1"
MANAGER_URI = "/redfish/v1/Managers/1"
CHASSIS_URI = "/redfish/v1/Chassis/1"
INVENTORY_URI = "/redfish/v1/UpdateService/FirmwareInventory"
HOST_RESET_TYPES = (
    "On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle",
)
BMC_RESET_TYPES = ("GracefulRestart", "ForceRestart")
BOOT_TARGETS = ("None", "Pxe", "Hdd", "Cd")
# Supermicro X11/X12 present virtual media as a USB CD: only UsbCd boots it.
USB_CD_BOOT_TARGETS = ("None", "Pxe", "Hdd", "UsbCd")
CD_TARGETS = frozenset({"Cd", "UsbCd"})
BOOT_ENABLED = ("Disabled", "Once", "Continuous")
ACTIVATE_FAILED = "Update.ActivateFailed"


@dataclass(frozen=True)
class Timings:
    """Seconds: one component flash, a host reset, a BMC restart.

    restart_delay_s: after an update task that restarts the BMC finished, the
    longest the BMC keeps serving before it goes down (it goes down sooner,
    RESTART_GRACE_S after a client has read the finished task).
    """

    flash_s: float
    reset_s: float
    bmc_restart_s: float
    restart_delay_s: float = 3.0


@dataclass
class BootOverride:
    target: str = "None"
    enabled: str = "Disabled"
    mode: str = "UEFI"


@dataclass
class VirtualMediaState:
    image: str | None = None
    inserted: bool = False
    write_protected: bool = True
    transfer_protocol: str | None = None
    transfer_method: str = "Stream"


class BusyError(Exception):
    """The host or BMC is in a transition that forbids this operation."""


class Bmc:
    """State and behaviour of one BMC and its host."""

    def __init__(
        self,
        *,
        bmc_id: str,
        spec: NodeSpec,
        backend: HostBackend,
        audit: AuditLog,
        delivery: EventDelivery,
        timings: Timings,
        session_timeout_s: float = 1800,
        sessions_survive_restart: bool = False,
        served_certificate: bytes | None = None,
        apply_certificate: Callable[[ssl.SSLContext], None] | None = None,
    ) -> None:
        assert spec.model and spec.password and spec.serial and spec.firmware is not None
        self.id = bmc_id
        self.model = spec.model
        self.serial = spec.serial
        # How this BMC presents itself (Manufacturer, Manager Model and Oem).
        self.personality = personality(spec.personality)
        self.manufacturer = self.personality.manufacturer
        self.username = spec.username
        self.password = spec.password
        self.timings = timings
        self.backend = backend
        self.audit = audit
        self.host = bmc_id
        self.uuid = backend.ensure_host(self.host)
        self.port = 0
        self.url = ""
        self.port_control: bmc_restart.PortControl | None = None
        self.lock = threading.RLock()
        # Held from an If-Match check to the end of that write (one winner per ETag).
        self.conditional_write_lock = threading.Lock()
        self.accounts = AccountStore()
        self.accounts.add(spec.username, spec.password, Role.ADMINISTRATOR)
        self.sessions = SessionStore(session_timeout_s)
        self._sessions_survive_option = sessions_survive_restart
        self.events = EventService(delivery)
        self.tasks = TaskStore(self._task_event)
        # Used only with the job-instead-of-task quirk (emulator/jobs.py).
        self.jobs = TaskStore(self._task_event, factory=Job)
        self.faults = FaultSet()
        self.logs = BmcLogs()
        audit.add_sink(bmc_id, self._audit_record)
        self.certificate = BmcCertificate(f"{self.model} BMC {bmc_id}", served_certificate,
                                          apply_certificate)
        self.clock = ManagerClock()
        self.indicator_led = "Off"
        self.asset_tag = ""
        self.network = NetworkSettings.for_bmc(bmc_id)
        self.firmware = FirmwareState(
            bmc_id, self.host, backend, audit, dict(spec.firmware), self._firmware_changed
        )
        self.boot = BootOverride()
        self.media = VirtualMediaState()
        # vmedia-stays-inserted-until-ejected-twice: an eject was answered but not done.
        self.eject_ignored = False
        # False: the virtual CD offers no InsertMedia action (as some BMCs' slots do not:
        # the slot is listed, but nothing can load it).
        self.insert_media_action = True
        self.host_transition: str | None = None  # "PoweringOn" while a reset is under way
        self.host_busy_reason: str | None = None  # e.g. "booting the update CD"
        self.manager_restarting = False
        # Requests worth counting (docs/emulator.md): "walk", GETs of the Systems collection
        # (a client discovering the BMC); "update_request", update requests received.
        self.counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        # Set by the firmware package: runs the update CD when the host boots from it.
        self.cd_boot_handler: Callable[[Bmc, str], None] | None = None
        for fault in spec.faults:
            self.faults.add(fault)
        # Vendor behaviours (emulator/quirks.py); read-only after start, except that
        # reshaped-by-bmc-update replaces them when the BMC's own firmware changes.
        self.quirks = spec.quirks

    def count(self, what: str) -> None:
        with self._counts_lock:
            self.counts[what] += 1

    @property
    def sessions_survive_restart(self) -> bool:
        """OpenBMC keeps sessions on flash across a reboot (the sessions-survive-bmc-restart
        quirk, or the older sessions_survive_restart option); most BMCs forget them."""
        return self._sessions_survive_option or "sessions-survive-bmc-restart" in self.quirks

    # events -----------------------------------------------------------------------
    def _task_event(self, task: Task, message_id: str, args: tuple[str, ...]) -> None:
        self.events.publish(message_id, args, task.uri, "Job" if isinstance(task, Job) else "Task")

    def _audit_record(self, record: dict[str, Any]) -> None:
        """An audit record becomes log entries; a firmware message is pushed as an event
        the same moment (a failing flash says so at once, wherever a client listens)."""
        # The audit log keeps real time; the BMC stamps its entries with its own clock.
        written = self.logs.from_audit({**record, "ts": self.clock.at(str(record["ts"]))})
        if written is not None and written.about_firmware:
            self.events.publish(written.message_id, written.args, written.origin,
                                "SoftwareInventory")

    def _firmware_changed(self, component: str) -> None:
        self.events.publish(
            "ResourceEvent.ResourceChanged", (), f"{INVENTORY_URI}/{component}", "SoftwareInventory"
        )

    # power ------------------------------------------------------------------------------
    def power_state(self) -> str:
        if self.host_transition:
            return self.host_transition
        return self.backend.power_state(self.host).value

    def _set_power(self, on: bool, graceful: bool = False, **why: object) -> None:
        before = self.backend.power_state(self.host)
        if on:
            self.backend.power_on(self.host)
        else:
            self.backend.power_off(self.host, graceful=graceful)
        after = self.backend.power_state(self.host)
        if after is not before:
            self.audit.record(self.id, "power", state=after.value, **why)
            message = "ResourcePoweredOn" if on else "ResourcePoweredOff"
            self.events.publish(f"ResourceEvent.{message}", (SYSTEM_URI,), SYSTEM_URI,
                                "ComputerSystem")

    def reset_host(self, reset_type: str) -> None:
        """Carry out a ComputerSystem.Reset; BusyError while a reset is under way.

        On / restart types run in the background: PowerState reads "PoweringOn"
        for reset_s seconds, pending firmware activates, then the host boots
        from disk or, with a Cd override and media inserted, the update CD.
        """
        with self.lock:
            if self.host_transition or self.host_busy_reason:
                raise BusyError(self.host_busy_reason or "a reset is in progress")
            state = self.backend.power_state(self.host)
            if reset_type in ("ForceOff", "GracefulShutdown"):
                self._set_power(False, graceful=reset_type == "GracefulShutdown",
                                reason=reset_type)
                return
            if reset_type == "On" and state is PowerState.ON:
                return
            self.host_transition = "PoweringOn"
        if reset_type != "On":
            self.audit.record(self.id, "reset", component="host", reset_type=reset_type)
        self._set_power(False, reason=reset_type)
        threading.Thread(
            target=self._boot_host, name=f"{self.id}-boot", daemon=True
        ).start()

    def _boot_host(self) -> None:
        try:
            time.sleep(self.timings.reset_s)
            while self.faults.active(FaultKind.RESET_HANGS):
                time.sleep(0.05)  # "never comes back" while the fault stays set
            self.activate_pending_firmware()
            cd_image, once = self._boot_source_cd()
            with self.lock:
                self.host_transition = None
                if cd_image:
                    self.host_busy_reason = "the host is running the update CD"
            self._set_power(True, reason="boot")
            with self.lock:
                # Only now: a real (QEMU) host reads its boot order when it starts,
                # so resetting it before the start would skip the CD. Unless a new
                # override was set meanwhile, which then owns the boot order.
                if once and self.boot.enabled == "Disabled":
                    self.backend.set_boot_order(self.host, BootDevice.HDD)
            if cd_image and self.cd_boot_handler is not None:
                try:
                    self.cd_boot_handler(self, cd_image)
                finally:
                    with self.lock:
                        self.host_busy_reason = None
        except Exception:  # a background thread must log, not die silently
            LOG.exception("BMC %s: host boot failed", self.id)
            with self.lock:
                self.host_transition = None
                self.host_busy_reason = None

    def _boot_source_cd(self) -> tuple[str | None, bool]:
        """The CD image to boot (or None), and whether a Once override was consumed
        (it lasts this one boot; the caller restores the disk boot order after it)."""
        with self.lock:
            target, enabled = self.boot.target, self.boot.enabled
            if enabled == "Once":
                self.boot = BootOverride(mode=self.boot.mode)
            if target in CD_TARGETS and enabled in ("Once", "Continuous") and self.media.inserted:
                return self.media.image, enabled == "Once"
        return None, enabled == "Once"

    def activate_pending_firmware(self, source: str | None = None) -> None:
        """Host reset: staged versions become installed (unless version_unchanged).
        source: "update_cd" when the update CD's reboot activates them."""
        pending = self.firmware.take_pending()
        for component, version in pending.items():
            if self.faults.hit(FaultKind.VERSION_UNCHANGED, component):
                self.audit.record(
                    self.id, "flash_failed", component=component,
                    from_version=self.firmware.version(component), to_version=version,
                    reason="fault: version_unchanged (activation silently lost)",
                    message=ACTIVATE_FAILED, source=source,
                )
                continue
            self.firmware.install(component, version, activated_by="host_reset", source=source)
        for task in (*self.tasks.running(), *self.jobs.running()):
            if task.state is TaskState.STOPPING:
                task.complete()  # task-stopping-while-staged: the reset ends it

    def activate_bmc_firmware(self, version: str, task_id: str | None) -> None:
        """A BMC restart after a BMC flash: the new version runs (unless version_unchanged)."""
        if self.faults.hit(FaultKind.VERSION_UNCHANGED, "BMC"):
            self.audit.record(
                self.id, "flash_failed", component="BMC",
                from_version=self.firmware.version("BMC"), to_version=version, task=task_id,
                reason="fault: version_unchanged (activation silently lost)",
                message=ACTIVATE_FAILED,
            )
            return
        self.firmware.install("BMC", version, task=task_id, activated_by="bmc_restart")
        if RESHAPE in self.quirks and not all(q in self.quirks for q in RESHAPED_BY_BMC_UPDATE):
            # The new firmware serves another shape (docs/interop.md): a client that
            # trusts the URIs and capabilities it learned before is now wrong.
            self.quirks = self.quirks.merged(parse_quirks(RESHAPED_BY_BMC_UPDATE))
            self.audit.record(self.id, "bmc_reshaped", component="BMC", version=version,
                              quirks=list(RESHAPED_BY_BMC_UPDATE))

    def wait_restarted(self) -> None:
        """Return once a BMC restart under way has ended (at once if none is)."""
        while self.manager_restarting:
            time.sleep(0.05)

    def reboot_host_to_disk(self) -> None:
        """After the update CD: activate what needs a reset and start from disk."""
        self.audit.record(self.id, "reset", component="host", reset_type="ForceRestart",
                          reason="update CD finished")
        self._set_power(False, reason="update CD finished")
        time.sleep(self.timings.reset_s)
        self.activate_pending_firmware(source="update_cd")
        self._set_power(True, reason="boot from disk")

    # boot override -------------------------------------------------------------------------
    def set_boot_override(self, target: str | None, enabled: str | None, mode: str | None) -> None:
        with self.lock:
            new = BootOverride(
                target=target or self.boot.target,
                enabled=enabled or self.boot.enabled,
                mode=mode or self.boot.mode,
            )
            if target and target != "None" and not enabled and new.enabled == "Disabled":
                new.enabled = "Once"  # a target alone means "next boot", as most BMCs do
            if new.target == "None":
                new.enabled = "Disabled"
            device = {"Cd": BootDevice.CD, "UsbCd": BootDevice.CD,
                      "Pxe": BootDevice.PXE}.get(new.target, BootDevice.HDD)
            if new.enabled == "Disabled":
                device = BootDevice.HDD
            self.backend.set_boot_order(self.host, device)
            self.boot = new

    # virtual media ------------------------------------------------------------------------------
    def insert_media(self, image: str, write_protected: bool, protocol: str | None,
                     method: str) -> None:
        with self.lock:
            if self.media.inserted:
                raise BusyError("media is already inserted; eject it first")
            self.backend.set_cdrom(self.host, image)
            self.media = VirtualMediaState(image, True, write_protected, protocol, method)
        self.audit.record(self.id, "media_insert", image=image)

    def boot_targets(self) -> tuple[str, ...]:
        """BootSourceOverrideTarget's allowable values (vmedia-boot-target-usbcd: UsbCd)."""
        return USB_CD_BOOT_TARGETS if "vmedia-boot-target-usbcd" in self.quirks else BOOT_TARGETS

    def eject_media(self) -> None:
        with self.lock:
            if (self.media.inserted and not self.eject_ignored
                    and "vmedia-stays-inserted-until-ejected-twice" in self.quirks):
                # Dell: the first eject is acknowledged, the slot still reads Inserted.
                self.eject_ignored = True
                return
            self.eject_ignored = False
            image = self.media.image
            self.backend.set_cdrom(self.host, None)
            self.media = VirtualMediaState()
        if image:
            self.audit.record(self.id, "media_eject", image=image)

    # BMC restart -------------------------------------------------------------------------------
    def restart_bmc(self, reason: str, on_back: Callable[[], None] | None = None, *,
                    after_task: Task | None = None) -> None:
        """Close the BMC's port for bmc_restart_s seconds, then reopen it.

        on_back runs just before the port reopens (e.g. the new BMC firmware
        version takes effect). after_task: the update task whose end causes
        this restart. The BMC keeps serving until a client has read that task
        finished (then bmc_restart.RESTART_GRACE_S more) or restart_delay_s
        passed, as a real BMC that reboots a moment after its task completes.
        Sessions end with the restart unless sessions_survive_restart.
        """
        with self.lock:
            if self.manager_restarting:
                raise BusyError("the BMC is already restarting")
            self.manager_restarting = True
        threading.Thread(
            target=bmc_restart.run, args=(self, reason, on_back, after_task),
            name=f"{self.id}-restart", daemon=True,
        ).start()
