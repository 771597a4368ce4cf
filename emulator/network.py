"""The BMC's network settings as a client sets them (EthernetInterface, NetworkProtocol PATCH).

The BMC really listens on 127.0.0.1, so its address is fixed; the host name,
domain name, name servers, gateway and mask are the client's to set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ADDRESS = "127.0.0.1"
DOMAIN = "localdomain"


@dataclass
class NetworkSettings:
    host_name: str
    fqdn: str
    static_name_servers: list[str] = field(default_factory=list)
    gateway: str = "0.0.0.0"
    subnet_mask: str = "255.0.0.0"
    ntp_enabled: bool = False
    ntp_servers: list[str] = field(default_factory=list)

    @classmethod
    def for_bmc(cls, bmc_id: str) -> NetworkSettings:
        return cls(host_name=bmc_id, fqdn=f"{bmc_id}.{DOMAIN}")


def patch_array(current: list[str], patch: list[object]) -> list[str]:
    """DSP0266 array PATCH: an element null removes, {} keeps, a value replaces.

    Elements beyond the patch's length are removed; extra ones are appended.
    ValueError for any other element (the caller names the property).
    """
    result: list[str] = []
    for index, item in enumerate(patch):
        if item is None:
            continue
        if item == {}:
            if index < len(current):
                result.append(current[index])
            continue
        if not isinstance(item, str):
            raise ValueError(repr(item))
        result.append(item)
    return result
