"""Ports for servers that restart on the same port: below the ephemeral range, free,
never handed out twice to one rig."""

from __future__ import annotations

import socket

import pytest

from lab import lab_processes, ports


def test_a_restartable_port_is_bindable_and_below_the_kernels_ephemeral_range() -> None:
    port = ports.restartable_port()
    assert ports.PORT_FLOOR <= port < ports.ephemeral_low()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))


def test_ports_for_one_rig_are_never_handed_out_twice() -> None:
    taken: set[int] = set()
    picked = [ports.restartable_port(taken) for _ in range(50)]
    assert len(set(picked)) == 50
    assert taken == set(picked)


def test_picks_before_any_server_binds_are_never_the_same_port() -> None:
    # A gateway's API and media ports are picked one after the other and bound later;
    # the same number twice made the second server fail "Address already in use".
    # 500 picks from ~12,000 ports would repeat one almost surely if left to chance.
    picked = [ports.restartable_port() for _ in range(500)]
    assert len(set(picked)) == 500


def test_a_block_is_consecutive_free_ports_not_overlapping_what_was_taken() -> None:
    taken = {ports.restartable_port()}
    base = ports.free_port_block(5, taken)
    block = set(range(base, base + 5))
    assert len(taken) == 6 and block <= taken
    for port in block:
        assert ports.is_free(port)


def test_a_port_in_use_is_not_free() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert not ports.is_free(server.getsockname()[1])


def test_no_room_below_the_range_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "ephemeral_low", lambda: ports.PORT_FLOOR + 3)
    with pytest.raises(ports.PortError, match="no block of 10 free loopback ports"):
        ports.free_port_block(10)


def test_the_labs_server_ports_are_outside_the_ephemeral_range_and_never_repeat() -> None:
    # What `lab up` gives the gateway, media server, API and publisher: an outgoing
    # connection cannot take one before its server binds it, or while it restarts.
    picked = [lab_processes.free_port() for _ in range(20)]
    assert len(set(picked)) == 20
    assert all(ports.PORT_FLOOR <= port < ports.ephemeral_low() for port in picked)
