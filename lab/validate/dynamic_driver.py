"""Drive one emulated matrix BMC over Redfish with the gateway's BMC client.

A delivery is started (`start`) and followed to its end (`finish`): the
Redfish task for SimpleUpdate and multipart push, and for virtual media
the update CD's reboot to disk, which the emulator's audit log records
(there is no task to follow). The audit log is also the witness of what
was flashed: "untouched" means no flash started, not just equal versions.

The harness polls every POLL_S seconds rather than honouring the
emulator's Retry-After of 1 s: it talks to its own BMCs on loopback, and
the matrix runs faster for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sushy

from emulator.cluster import EmulatedCluster
from gateway.domain.inventory import PowerState
from gateway.redfish import (
    BmcBusyError,
    BmcClient,
    BmcEndpoint,
    OperationTimeoutError,
    RedfishError,
    TaskRef,
    TaskStatus,
    wait_until_back,
)
from gateway.redfish.connector import open_service
from gateway.redfish.errors import translated
from gateway.redfish.tasks import NEW_MONITOR_404_GRACE_S
from lab.topology import Delivery, EmulatorTimings
from lab.validate.dynamic_expect import short_id
from lab.validate.dynamic_serve import BundleServer

POLL_S = 0.05
# Task messages that only narrate progress; failure texts leave them out.
PROGRESS_IDS = frozenset({"UpdateInProgress", "TargetDetermined", "TransferringToComponent",
                          "VerifyingAtComponent", "ApplyingOnComponent"})
T = TypeVar("T")


class DriverError(Exception):
    """A step against the BMC did not happen in time or was refused; the message says which."""


@dataclass(frozen=True)
class Attempt:
    """What one delivery did: the task's end (None for virtual media), its messages
    (short registry ids and text, image URL removed), and this BMC's audit records."""

    method: Delivery
    task_state: str | None
    message_ids: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    events: tuple[dict[str, Any], ...] = field(default=())

    def flashed(self) -> tuple[str, ...]:
        """Components whose flash started during this attempt."""
        return tuple(e.get("component", "?") for e in self.events if e["event"] == "flash_start")

    def failures(self) -> tuple[str, ...]:
        """Why flashes failed: the audit log's reasons."""
        # dict.fromkeys: the update CD logs a failed flash twice (the flash, the CD run)
        return tuple(dict.fromkeys(f"{e.get('component', '?')}: {e.get('reason', 'no reason')}"
                                   for e in self.events if e["event"] == "flash_failed"))

    def describe(self) -> str:
        """One line for failure messages: the task's end and messages, or the CD's outcome."""
        if self.task_state is None:
            failed = "; ".join(self.failures())
            return f"update CD: {failed}" if failed else "update CD ran"
        told = [text for message_id, text in zip(self.message_ids, self.messages, strict=False)
                 if text and message_id not in PROGRESS_IDS]
        return f"task {self.task_state}: {'; '.join(told) or 'no messages'}"


@dataclass(frozen=True)
class Pending:
    """A delivery under way: its task (None for virtual media) and the audit position."""

    method: Delivery
    ref: TaskRef | None
    mark: int


class NodeDriver:
    """One BMC of `cluster` (inventory index `index`), updated from `bundle`."""

    def __init__(self, cluster: EmulatedCluster, index: int, bundle: BundleServer,
                 timings: EmulatorTimings, timeout_s: float = 60.0) -> None:
        node = cluster.inventory[index]
        self.bmc_id = node["id"]
        self.endpoint = BmcEndpoint(node["id"], node["url"], node["username"],
                                    node["password"], timeout=10.0)
        self._cluster = cluster
        self._bundle = bundle
        self._timings = timings
        self.timeout_s = timeout_s
        self._client: BmcClient | None = None

    # connection ----------
    def client(self) -> BmcClient:
        if self._client is None:
            self._client = BmcClient.connect(self.endpoint)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def retrying(self, action: Callable[[BmcClient], T], doing: str) -> T:
        """Run `action`, retrying transient errors (a restarting BMC) until the timeout."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return action(self.client())
            except RedfishError as exc:
                if not exc.transient or time.monotonic() > deadline:
                    raise DriverError(f"{doing}: {self._bundle.scrub(str(exc))}") from exc
                self.close()  # a restarted BMC forgot the session
                time.sleep(POLL_S)

    # audit log ----------
    def mark(self) -> int:
        return len(self._cluster.audit.records(bmc=self.bmc_id))

    def events_since(self, mark: int) -> tuple[dict[str, Any], ...]:
        """This BMC's audit records since `mark`, the capability URL scrubbed from them."""
        return tuple({key: self._bundle.scrub(value) if isinstance(value, str) else value
                      for key, value in record.items()}
                     for record in self._cluster.audit.records(bmc=self.bmc_id)[mark:])

    def wait_for_event(self, mark: int, match: Callable[[dict[str, Any]], bool],
                       what: str) -> dict[str, Any]:
        """The first audit record since `mark` that matches; DriverError after the timeout."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            for record in self.events_since(mark):
                if match(record):
                    return record
            time.sleep(POLL_S / 2)
        raise DriverError(f"{what} did not happen within {self.timeout_s:.0f} s")

    # deliveries ----------
    def start(self, method: Delivery, *, force: bool = False) -> Pending:
        """Start delivering the bundle by `method`; DriverError if the BMC refuses."""
        mark = self.mark()
        url = self._bundle.url
        if method is Delivery.SIMPLE_UPDATE:
            ref = self.retrying(lambda c: c.simple_update(url, force=force), "SimpleUpdate")
        elif method is Delivery.MULTIPART_PUSH:
            ref = self.retrying(lambda c: c.multipart_push(
                self._bundle.chunks(), self._bundle.size, filename="bundle.iso", force=force),
                "multipart push")
        else:
            self.retrying(lambda c: c.eject_media(), "ejecting virtual media")
            self.retrying(lambda c: c.insert_media(url), "inserting virtual media")
            self.retrying(lambda c: c.set_boot_once_cd(), "setting boot override Cd/Once")
            self.retrying(lambda c: c.reset_host(), "resetting the host")
            ref = None
        return Pending(method, ref, mark)

    def finish(self, pending: Pending) -> Attempt:
        """Wait until the delivery ended; DriverError if it does not within the timeout."""
        if pending.ref is None:
            self.wait_for_event(pending.mark, _cd_finished, "the update CD's reboot to disk")
            self.retrying(lambda c: c.eject_media(), "ejecting virtual media")
            return Attempt(pending.method, None, events=self.events_since(pending.mark))
        ref = pending.ref
        started = time.monotonic()
        deadline = started + self.timeout_s
        seen = False
        while True:
            status = self.retrying(_status_of(ref), "reading the update task")
            # Follow the Job a task hands the update to; a new monitor may 404 at first
            # (docs/interop.md, "Vendor quirks").
            ref = status.followed or ref
            fresh = status.missing and not seen
            seen = seen or not status.missing
            if status.finished and not (
                    fresh and time.monotonic() - started < NEW_MONITOR_404_GRACE_S):
                break
            if time.monotonic() > deadline:
                raise DriverError(f"the update task was still {status.state} after "
                                  f"{self.timeout_s:.0f} s")
            time.sleep(POLL_S)
        return Attempt(pending.method, status.state,
                       tuple(short_id(m) for m in status.message_ids),
                       tuple(self._bundle.scrub(m) for m in status.messages),
                       self.events_since(pending.mark))

    def deliver(self, method: Delivery, *, force: bool = False) -> Attempt:
        return self.finish(self.start(method, force=force))

    # versions ----------
    def versions(self) -> dict[str, str]:
        return self.retrying(lambda c: c.firmware_versions(), "reading FirmwareInventory")

    def settle(self, expected: Mapping[str, str]) -> dict[str, str]:
        """Versions once the node settled: as soon as they equal `expected`, else after
        the slowest activation (host reset plus BMC restart, with margin) has passed."""
        patience = self._timings.reset_seconds + self._timings.bmc_restart_seconds + 2.0
        deadline = time.monotonic() + patience
        while True:
            got = self.versions()
            if dict(got) == dict(expected) or time.monotonic() > deadline:
                self.wait_back()
                return self.versions()
            time.sleep(POLL_S)

    # interruptions and recovery ----------
    def wait_back(self) -> None:
        """Two consecutive good answers (a restarting BMC answers, then refuses, then answers)."""
        try:
            wait_until_back(self.endpoint, good_answers=2, interval=POLL_S,
                            timeout=self.timeout_s)
        except OperationTimeoutError as exc:
            raise DriverError(f"the BMC did not come back: {exc}") from exc

    def restart_bmc(self) -> None:
        """Manager.Reset ForceRestart.

        A BMC already restarting (409) counts as restarted; one that does not
        answer (restarting into new firmware) is retried until the timeout.
        """
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                with BmcClient(self.endpoint, open_service(self.endpoint)) as client, \
                        translated(f"restarting BMC {self.bmc_id}"):
                    # the BMC client offers no manager reset: its sushy root does
                    client._root.get_manager().reset_manager(sushy.ResetType.FORCE_RESTART)
                break
            except BmcBusyError:
                break
            except RedfishError as exc:
                if not exc.transient or time.monotonic() > deadline:
                    raise DriverError(f"restarting the BMC: {exc}") from exc
                time.sleep(POLL_S)
        self.close()

    def power_off_host(self) -> None:
        """ComputerSystem.Reset ForceOff, retried while the host is busy (409) or the BMC
        does not answer."""
        self.retrying(lambda c: c.reset_host("ForceOff"), "forcing the host off")

    def recover(self) -> None:
        """What an operator does after an interruption: wait for the BMC, let any task end,
        eject media and cancel a boot override, and power the host back on."""
        self.close()
        self.wait_back()
        deadline = time.monotonic() + self.timeout_s
        while any(t.state in ("New", "Running", "Pending") for t in
                  self.retrying(lambda c: c.list_tasks(), "listing tasks")):
            if time.monotonic() > deadline:
                raise DriverError("an update task was still running after the interruption")
            time.sleep(POLL_S)
        self.retrying(lambda c: c.eject_media(), "ejecting virtual media")
        self.retrying(lambda c: c.clear_boot_override(), "clearing the boot override")
        while True:
            power = self.retrying(lambda c: c.inventory().power_state, "reading power state")
            if power is PowerState.ON:
                return
            if power is PowerState.OFF:
                self.retrying(lambda c: c.reset_host("On"), "powering the host on")
            if time.monotonic() > deadline:
                raise DriverError(f"the host stayed {power.value} after the interruption")
            time.sleep(POLL_S)


def _cd_finished(record: dict[str, Any]) -> bool:
    # The emulated host writes this reset when the update CD is done and it
    # reboots to disk (emulator/bmc.py reboot_host_to_disk).
    return record["event"] == "reset" and record.get("reason") == "update CD finished"


def _status_of(ref: TaskRef) -> Callable[[BmcClient], TaskStatus]:
    """One look at the task ``ref`` names, as an action for DynamicDriver.retrying."""
    return lambda client: client.task_status(ref)
