"""Managers/1/NetworkProtocol: the protocols the BMC serves, and its host name.

The emulated BMC serves Redfish on exactly one port, over HTTPS with
``--tls`` and plain HTTP otherwise; nothing else (no SSH, IPMI or SSDP) runs.
NTP servers are kept as set (the emulator's clock is the host's).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import MANAGER_URI
from emulator.errors import RedfishError
from emulator.network import patch_array
from emulator.redfish.common import bmc, check_properties, json_response, read_json, requires

blueprint = Blueprint("network_protocol", __name__)

URI = f"{MANAGER_URI}/NetworkProtocol"
CERTIFICATES_URI = f"{URI}/HTTPS/Certificates"


def protocol_document() -> dict[str, Any]:
    current = bmc()
    https = current.url.startswith("https:")
    return {
            "@odata.id": URI,
            "@odata.type": "#ManagerNetworkProtocol.v1_12_0.ManagerNetworkProtocol",
            "Id": "NetworkProtocol",
            "Name": "Manager Network Protocol",
            "HostName": current.network.host_name,
            "FQDN": current.network.fqdn,
            "Status": {"State": "Enabled", "Health": "OK"},
            "HTTP": {"ProtocolEnabled": not https, "Port": None if https else current.port},
            "HTTPS": {
                "ProtocolEnabled": https,
                "Port": current.port if https else None,
                "Certificates": {"@odata.id": CERTIFICATES_URI},
            },
            "SSH": {"ProtocolEnabled": False, "Port": None},
            "IPMI": {"ProtocolEnabled": False, "Port": None},
            "NTP": {"ProtocolEnabled": current.network.ntp_enabled, "Port": 123,
                    "NTPServers": list(current.network.ntp_servers)},
        }


@blueprint.get(URI)
def network_protocol() -> Response:
    return json_response(protocol_document())


@blueprint.patch(URI)
@requires(Privilege.CONFIGURE_MANAGER)
def patch_network_protocol() -> Response:
    """NTP servers and whether NTP is on; the other protocols are fixed by how the BMC runs."""
    document = read_json()
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
    return json_response(protocol_document())
