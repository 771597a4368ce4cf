"""Client addresses as a dual-stack listener reports them."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.addresses import client_ip


@pytest.mark.parametrize(("description", "address", "expected"), [
    ("plain IPv4", "10.0.0.7", ipaddress.IPv4Address("10.0.0.7")),
    ("IPv4-mapped IPv6 becomes IPv4", "::ffff:127.0.0.1", ipaddress.IPv4Address("127.0.0.1")),
    ("zone suffix is dropped", "fe80::1%eth0", ipaddress.IPv6Address("fe80::1")),
    ("plain IPv6", "2001:db8::5", ipaddress.IPv6Address("2001:db8::5")),
    ("a host name is not an address", "gateway.example", None),
    ("empty", "", None),
])
def test_client_ip(description: str, address: str,
                   expected: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> None:
    assert client_ip(address) == expected, description
