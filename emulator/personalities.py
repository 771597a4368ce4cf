"""Personalities: named bundles of quirks plus the identity a real BMC family shows.

A personality makes an emulated BMC read like the real thing: the system's
Manufacturer, the model names that vendor ships, the Manager's Model and an Oem
object in the shape the vendor's Manager carries, and the quirks (emulator/quirks.py)
that family is known for. ``dmtf`` is today's clean behaviour and the default.

Choose one with ``fleetflash emulator serve --personality NAME`` or ``personality:``
on a topology node. A node's own quirks are added to its personality's (a
contradiction between them is refused at start-up, naming both).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from emulator.errors import ConfigError
from emulator.quirks import Quirks, parse_quirks

DEFAULT_PERSONALITY = "dmtf"


@dataclass(frozen=True)
class Personality:
    """How one BMC family presents itself (``{model}`` in manager_model: the system's)."""

    name: str
    manufacturer: str
    models: tuple[str, ...]  # system models that family ships (for --models defaults)
    manager_model: str
    oem: Mapping[str, Any] = field(default_factory=dict)  # the Manager's Oem object
    quirks: tuple[str, ...] = ()
    # Starting versions of the family's own models, in its version style (the Manager's
    # FirmwareVersion shows the BMC one); empty: the model catalogue (emulator/config.py).
    firmware: Mapping[str, str] = field(default_factory=dict)

    def parsed_quirks(self) -> Quirks:
        return parse_quirks(self.quirks)

    def oem_document(self) -> dict[str, Any]:
        """The Manager's Oem object as plain JSON data."""
        return copy.deepcopy(dict(self.oem))  # a client's view never shares our objects


def _oem(vendor: str, odata_type: str, **fields: Any) -> Mapping[str, Any]:
    return MappingProxyType({vendor: {"@odata.type": odata_type, **fields}})


def _versions(bmc: str, bios: str, nic: str) -> Mapping[str, str]:
    return MappingProxyType({"BMC": bmc, "BIOS": bios, "NIC": nic})


PERSONALITIES: dict[str, Personality] = {p.name: p for p in (
    Personality("dmtf", "Fleetflash Emulated Systems",
                ("FF-1U-R450", "FF-2U-R750", "FF-4U-X900"), "{model} BMC"),
    Personality(
        "openbmc", "Wiwynn", ("Tioga Pass", "Yosemite V3"), "OpenBmc",
        _oem("OpenBmc", "#OpenBMCManager.v1_0_0.Manager",
             Fan={"@odata.id": "/redfish/v1/Managers/1#/Oem/OpenBmc/Fan"}),
        quirks=("sessions-survive-bmc-restart",),
        firmware=_versions("2.14.0-dev-1045-g5f8b3e7", "1.45.455b66-rev4", "0x0000000b")),
    Personality(
        "idrac", "Dell Inc.", ("PowerEdge R650", "PowerEdge R750"), "15G Monolithic",
        _oem("Dell", "#DellOem.v1_3_0.DellOemResources",
             DelliDRACCard={"@odata.type": "#DelliDRACCard.v1_1_0.DelliDRACCard",
                            "IPMIVersion": "2.0", "URLString": "https://bmc/"}),
        quirks=("vmedia-under-systems", "vmedia-stays-inserted-until-ejected-twice",
                "session-limit"),
        firmware=_versions("7.00.00.171", "2.19.1", "22.31.6")),
    Personality(
        "ilo", "HPE", ("ProLiant DL360 Gen11", "ProLiant DL380 Gen11"), "iLO 6",
        _oem("Hpe", "#HpeiLO.v2_9_0.HpeiLO",
             Firmware={"Current": {"Date": "Jun 14 2024", "VersionString": "iLO 6 v1.59"}},
             License={"LicenseString": "iLO Advanced"}),
        quirks=("vmedia-eject-needs-empty-body", "etag-required-on-patch"),
        firmware=_versions("1.59", "U46 v2.90 (10/25/2024)", "22.41.1000")),
    Personality(
        "xcc", "Lenovo", ("ThinkSystem SR630 V3", "ThinkSystem SD530"),
        "Lenovo XClarity Controller",
        _oem("Lenovo", "#LenovoManager.v1_0_0.LenovoManager",
             release_name="ESX3", FirmwareBuildDate="2024-05-10"),
        quirks=("vmedia-insert-needs-inserted", "vmedia-insert-action-info"),
        firmware=_versions("ESX332N-3.10", "ESE124B-2.10", "22.36.1010")),
    Personality(
        "supermicro", "Supermicro", ("SYS-120U-TNR", "SYS-620U-TNR"), "X12DPU-6",
        _oem("Supermicro", "#SmcManagerExtensions.v1_0_0.Manager",
             MCUVersion="1.05", IPMIVersion="2.0"),
        quirks=("vmedia-insert-rejects-inserted-writeprotected", "vmedia-boot-target-usbcd",
                "vmedia-insert-action-info"),
        firmware=_versions("01.04.08", "1.9", "1.3429.0")),
)}


def starting_firmware(name: str | None, model: str) -> dict[str, str] | None:
    """The starting versions of ``model`` when it is one of the personality's own
    models (a copy), else None (the caller uses its model catalogue)."""
    chosen = personality(name)
    return dict(chosen.firmware) if chosen.firmware and model in chosen.models else None


def personality(name: str | None) -> Personality:
    """The personality called ``name`` (the default for None); ConfigError naming it."""
    found = PERSONALITIES.get(name or DEFAULT_PERSONALITY)
    if found is None:
        raise ConfigError(f"unknown personality {name!r}; known: {', '.join(PERSONALITIES)}")
    return found


def quirks_with(name: str | None, own: Quirks) -> Quirks:
    """The personality's quirks plus a node's own (its values win); ConfigError when
    they contradict each other."""
    chosen = personality(name)
    try:
        return chosen.parsed_quirks().merged(own)
    except ConfigError as exc:
        raise ConfigError(f"personality {chosen.name!r} with the node's own quirks: {exc}"
                          ) from None
