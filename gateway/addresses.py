"""Client addresses as the gateway's servers receive them."""

from __future__ import annotations

import ipaddress

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_ip(address: str) -> IpAddress | None:
    """The peer's IP address, or None when `address` is not one.

    A zone suffix ("fe80::1%eth0") is dropped and an IPv4-mapped IPv6 address
    ("::ffff:10.0.0.7", what a dual-stack socket reports) becomes the IPv4 address,
    so IPv4 ranges and loopback checks work on dual-stack listeners.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
