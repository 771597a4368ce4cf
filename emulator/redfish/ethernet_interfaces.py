"""Managers/1/EthernetInterfaces: the BMC's one network port.

Its address is the loopback address the BMC really listens on (a PATCH may
not move it); host name, FQDN, static name servers, gateway and mask are
settable (emulator/network.py). The MAC is derived from the BMC's id (a
locally administered address, unique per BMC).
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import MANAGER_URI
from emulator.errors import RedfishError
from emulator.network import ADDRESS
from emulator.redfish.common import (
    bmc,
    check_properties,
    json_response,
    not_found,
    read_json,
    requires,
)
from emulator.redfish.documents import serve_collection

blueprint = Blueprint("ethernet_interfaces", __name__)

COLLECTION_URI = f"{MANAGER_URI}/EthernetInterfaces"
INTERFACE_ID = "eth0"
INTERFACE_URI = f"{COLLECTION_URI}/{INTERFACE_ID}"


def mac_address(bmc_id: str) -> str:
    digest = hashlib.sha256(bmc_id.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))  # 0x02: locally administered


serve_collection(blueprint, COLLECTION_URI, "EthernetInterfaceCollection",
                 "Manager Ethernet Interfaces", lambda: [INTERFACE_URI])


def interface_document() -> dict[str, Any]:
    current = bmc()
    settings = current.network
    mac = mac_address(current.id)
    address = {"Address": ADDRESS, "SubnetMask": settings.subnet_mask,
               "AddressOrigin": "Static", "Gateway": settings.gateway}
    return {
        "@odata.id": INTERFACE_URI,
        "@odata.type": "#EthernetInterface.v1_12_4.EthernetInterface",
        "Id": INTERFACE_ID,
        "Name": "Manager Ethernet Interface",
        "InterfaceEnabled": True,
        "LinkStatus": "LinkUp",
        "Status": {"State": "Enabled", "Health": "OK"},
        "MACAddress": mac,
        "PermanentMACAddress": mac,
        "SpeedMbps": 1000,
        "FullDuplex": True,
        "HostName": settings.host_name,
        "FQDN": settings.fqdn,
        "NameServers": list(settings.static_name_servers),
        "StaticNameServers": list(settings.static_name_servers),
        "DHCPv4": {"DHCPEnabled": False},
        "DHCPv6": {"OperatingMode": "Disabled"},
        "IPv4Addresses": [address],
        "IPv4StaticAddresses": [dict(address, AddressOrigin="Static")],
        "IPv6Addresses": [],
        "IPv6StaticAddresses": [],
        "IPv6StaticDefaultGateways": [],
        "IPv6AddressPolicyTable": [],
    }


@blueprint.get(f"{COLLECTION_URI}/<interface_id>")
def interface(interface_id: str) -> Response:
    if interface_id != INTERFACE_ID:
        raise not_found("EthernetInterface", interface_id)
    return json_response(interface_document())


def _ipv4(value: Any, name: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise RedfishError(400, "PropertyValueFormatError", str(value)[:80], name) from None


@blueprint.patch(f"{COLLECTION_URI}/<interface_id>")
@requires(Privilege.CONFIGURE_MANAGER)
def patch_interface(interface_id: str) -> Response:
    if interface_id != INTERFACE_ID:
        raise not_found("EthernetInterface", interface_id)
    document = read_json()
    writable = {"HostName": str, "FQDN": str, "StaticNameServers": list,
                "IPv4StaticAddresses": list, "IPv4Addresses": list}
    check_properties(document, writable,
                     read_only=interface_document().keys() - writable.keys())
    servers = [_ipv4(s, "StaticNameServers") for s in document.get("StaticNameServers", [])]
    statics = document.get("IPv4StaticAddresses", document.get("IPv4Addresses"))
    gateway = mask = None
    if statics is not None:
        name = "IPv4StaticAddresses" if "IPv4StaticAddresses" in document else "IPv4Addresses"
        if len(statics) != 1 or not isinstance(statics[0], dict):
            raise RedfishError(400, "PropertyValueFormatError", str(statics)[:80], name)
        wanted = statics[0]
        if _ipv4(wanted.get("Address", ADDRESS), f"{name}/Address") != ADDRESS:
            # The emulated BMC cannot move off the address it listens on.
            raise RedfishError(400, "PropertyValueNotInList", wanted["Address"],
                               f"{name}/Address")
        gateway = _ipv4(wanted.get("Gateway", "0.0.0.0"), f"{name}/Gateway")
        mask = _ipv4(wanted.get("SubnetMask", "255.0.0.0"), f"{name}/SubnetMask")
    for name in ("HostName", "FQDN"):
        value = document.get(name)
        if value is not None and (not value or len(value) > 253
                                  or not all(c.isalnum() or c in "-." for c in value)):
            raise RedfishError(400, "PropertyValueFormatError", value[:80], name)
    current = bmc()
    with current.lock:
        settings = current.network
        settings.host_name = document.get("HostName", settings.host_name)
        settings.fqdn = document.get("FQDN", settings.fqdn)
        if "StaticNameServers" in document:
            settings.static_name_servers = servers
        settings.gateway = gateway or settings.gateway
        settings.subnet_mask = mask or settings.subnet_mask
    return json_response(interface_document())
