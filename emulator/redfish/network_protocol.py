"""Managers/1/NetworkProtocol: the protocols the BMC serves, and its host name.

The emulated BMC serves Redfish on exactly one port, over HTTPS with
``--tls`` and plain HTTP otherwise; nothing else (no SSH, IPMI or SSDP) runs.
NTP servers are kept as set (the emulator's clock is the host's).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from emulator.accounts import Privilege
from emulator.bmc import MANAGER_URI
from emulator.errors import RedfishError
from emulator.network import patch_array
from emulator.redfish.common import bmc, check_properties
from emulator.redfish.documents import OK_STATUS, ref, resource, serve

blueprint = Blueprint("network_protocol", __name__)

URI = f"{MANAGER_URI}/NetworkProtocol"
CERTIFICATES_URI = f"{URI}/HTTPS/Certificates"


def protocol_document() -> dict[str, Any]:
    current = bmc()
    https = current.url.startswith("https:")
    return resource(
        URI, "#ManagerNetworkProtocol.v1_12_0.ManagerNetworkProtocol", "NetworkProtocol",
        "Manager Network Protocol",
        HostName=current.network.host_name,
        FQDN=current.network.fqdn,
        Status=OK_STATUS,
        HTTP={"ProtocolEnabled": not https, "Port": None if https else current.port},
        HTTPS={"ProtocolEnabled": https, "Port": current.port if https else None,
               "Certificates": ref(CERTIFICATES_URI)},
        SSH={"ProtocolEnabled": False, "Port": None},
        IPMI={"ProtocolEnabled": False, "Port": None},
        NTP={"ProtocolEnabled": current.network.ntp_enabled, "Port": 123,
             "NTPServers": list(current.network.ntp_servers)},
    )


def update_protocols(document: dict[str, Any]) -> None:
    """NTP servers and whether NTP is on; the other protocols are fixed by how the BMC runs."""
    check_properties(document, {"NTP": dict},
                     read_only=protocol_document().keys() - {"NTP"})
    ntp = document.get("NTP", {})
    check_properties(ntp, {"ProtocolEnabled": bool, "NTPServers": list}, read_only=("Port",))
    current = bmc()
    with current.lock:
        servers = current.network.ntp_servers
        if "NTPServers" in ntp:
            try:
                servers = patch_array(servers, ntp["NTPServers"])
            except ValueError as exc:
                raise RedfishError(400, "PropertyValueTypeError", str(exc)[:80],
                                   "NTP/NTPServers") from None
            if any(not s or len(s) > 253 or not s.isprintable() for s in servers):
                raise RedfishError(400, "PropertyValueFormatError", str(servers)[:80],
                                   "NTP/NTPServers")
        current.network.ntp_servers = servers
        current.network.ntp_enabled = ntp.get("ProtocolEnabled", current.network.ntp_enabled)


serve(blueprint, URI, protocol_document, update_protocols, Privilege.CONFIGURE_MANAGER)
