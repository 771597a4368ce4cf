"""Fault injection, per BMC.

Faults are set from the Python API (``cluster.faults``), from the CLI
(``--fault BMC=KIND[:key=value,...]``) or over the admin HTTP endpoint
(emulator/admin.py). Each kind and what a client then sees:

=====================  ===========================================================
download_fails         the BMC cannot fetch the image: task Exception, TransferFailed
image_corrupt          payload bytes arrive corrupted: task Exception, VerificationFailed
flash_fails            writing the component fails: task Exception, ApplyFailed
task_hangs             the update task stays Running (PercentComplete frozen)
unreachable            mode=refuse (default): connection refused;
                       mode=timeout: connections accepted, never answered
latency                every response delayed by ``seconds``
service_unavailable    every Redfish request answers 503 + Retry-After ``seconds``
version_unchanged      a reset "activates" pending firmware but versions stay old
reset_hangs            a host reset leaves the host off; a BMC restart never returns
no_firmware_inventory  FirmwareInventory and SoftwareInventory answer 404 and,
                       with link=absent (default), the UpdateService does not
                       link them (older BMCs); link=dangling keeps the links,
                       as sushy-tools does. Versions are still in
                       ComputerSystem.BiosVersion and Manager.FirmwareVersion
extra_systems          the service root serves ``systems`` more ComputerSystems
                       (/redfish/v1/Systems/2...), read-only hosts with their
                       own serial and BiosVersion, as behind a blade chassis
                       manager or an aggregator
update_answer_slow     an accepted update request (SimpleUpdate, multipart push)
                       starts its task at once, but its 202 leaves ``seconds``
                       later: a client that dies meanwhile started an update it
                       never saw
=====================  ===========================================================

Optional parameters: ``component`` (download/image/flash faults: only that
component), ``count`` (the fault clears itself after that many hits),
``systems`` (extra_systems: how many, default 2), ``link`` (no_firmware_inventory).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from emulator.errors import ConfigError


class FaultKind(StrEnum):
    DOWNLOAD_FAILS = "download_fails"
    IMAGE_CORRUPT = "image_corrupt"
    FLASH_FAILS = "flash_fails"
    TASK_HANGS = "task_hangs"
    UNREACHABLE = "unreachable"
    LATENCY = "latency"
    SERVICE_UNAVAILABLE = "service_unavailable"
    VERSION_UNCHANGED = "version_unchanged"
    RESET_HANGS = "reset_hangs"
    NO_FIRMWARE_INVENTORY = "no_firmware_inventory"
    EXTRA_SYSTEMS = "extra_systems"
    UPDATE_ANSWER_SLOW = "update_answer_slow"


# parameter name -> (type, allowed values or None); anything else is refused.
_PARAMETERS: dict[str, tuple[type, tuple[str, ...] | None]] = {
    "seconds": (float, None),
    "mode": (str, ("refuse", "timeout")),
    "component": (str, None),
    "count": (int, None),
    "systems": (int, None),
    "link": (str, ("absent", "dangling")),
}
_DEFAULTS: dict[FaultKind, dict[str, Any]] = {
    FaultKind.LATENCY: {"seconds": 0.5},
    FaultKind.SERVICE_UNAVAILABLE: {"seconds": 5.0},
    FaultKind.UNREACHABLE: {"mode": "refuse"},
    FaultKind.EXTRA_SYSTEMS: {"systems": 2},
    FaultKind.UPDATE_ANSWER_SLOW: {"seconds": 5.0},
    FaultKind.NO_FIRMWARE_INVENTORY: {"link": "absent"},
}


@dataclass(frozen=True)
class Fault:
    """An active fault and its parameters."""

    kind: FaultKind
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, **self.params}


def make_fault(kind: str, params: Mapping[str, Any] | None = None) -> Fault:
    """Validate a kind and its parameters; ConfigError names what is wrong."""
    try:
        fault_kind = FaultKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ConfigError(f"unknown fault kind {kind!r} (known: {known})") from None
    merged: dict[str, Any] = dict(_DEFAULTS.get(fault_kind, {}))
    for name, raw in (params or {}).items():
        if name not in _PARAMETERS:
            raise ConfigError(f"fault {kind}: unknown parameter {name!r}")
        wanted, allowed = _PARAMETERS[name]
        try:
            value = wanted(raw) if not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            value = None
        if value is None or (allowed is not None and value not in allowed):
            raise ConfigError(f"fault {kind}: invalid value {raw!r} for {name}")
        if wanted in (int, float) and value < 0:
            raise ConfigError(f"fault {kind}: {name} must not be negative")
        merged[name] = value
    return Fault(fault_kind, merged)


def parse_fault_option(text: str) -> tuple[str, Fault]:
    """Parse the CLI form ``BMC=KIND[:key=value,...]`` into (bmc id, fault)."""
    bmc, sep, rest = text.partition("=")
    if not sep or not bmc or not rest:
        raise ConfigError(f"--fault {text!r}: expected BMC=KIND[:key=value,...]")
    kind, _, param_text = rest.partition(":")
    params: dict[str, str] = {}
    for item in filter(None, param_text.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--fault {text!r}: parameter {item!r} is not key=value")
        params[key.strip()] = value.strip()
    return bmc.strip(), make_fault(kind.strip(), params)


class FaultSet:
    """The active faults of one BMC; thread-safe.

    on_change: called (without the lock held) after every change, so the
    cluster can open/close the BMC's port or change its latency.
    """

    def __init__(self, on_change: Callable[[FaultSet], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: dict[FaultKind, Fault] = {}
        self._remaining: dict[FaultKind, int] = {}
        self.on_change = on_change

    def set(self, kind: str, **params: Any) -> Fault:
        """Activate (or replace) a fault; ConfigError for a bad kind or parameter."""
        fault = make_fault(kind, params)
        self.add(fault)
        return fault

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults[fault.kind] = fault
            if "count" in fault.params:
                self._remaining[fault.kind] = int(fault.params["count"])
            else:
                self._remaining.pop(fault.kind, None)
        self._changed()

    def clear(self, kind: str | None = None) -> None:
        """Clear one kind, or every fault when kind is None."""
        with self._lock:
            if kind is None:
                self._faults.clear()
                self._remaining.clear()
            else:
                self._faults.pop(FaultKind(kind), None)
                self._remaining.pop(FaultKind(kind), None)
        self._changed()

    def active(self, kind: FaultKind, component: str | None = None) -> Fault | None:
        """The fault if active (and, when it names a component, for this component)."""
        fault = self._faults.get(kind)
        if fault is None:
            return None
        wanted = fault.params.get("component")
        if wanted and component and wanted != component:
            return None
        return fault

    def hit(self, kind: FaultKind, component: str | None = None) -> Fault | None:
        """Like active(), but counts one use against ``count`` and expires it."""
        fault = self.active(kind, component)
        if fault is None:
            return None
        expired = False
        with self._lock:
            if kind in self._remaining:
                self._remaining[kind] -= 1
                if self._remaining[kind] <= 0:
                    self._faults.pop(kind, None)
                    self._remaining.pop(kind, None)
                    expired = True
        if expired:
            self._changed()
        return fault

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults.values())

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)
