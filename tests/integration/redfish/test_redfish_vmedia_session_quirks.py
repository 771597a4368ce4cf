"""How the gateway's Redfish client copes with virtual-media, ETag and session quirks
(emulator/quirks.py; docs/interop.md, "Vendor quirks"), request by request: what it
learns from a refusal is used from then on, an eject is read back, a stale ETag is
read again once, a full session table means Basic auth, a lost session a new login."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulator.cluster import EmulatedCluster
from emulator.quirks import parse_quirks
from emulator.redfish import virtual_media as virtual_media_view
from gateway.orchestrator.bmc import FleetBmcClient
from gateway.redfish import BmcClient, BmcEndpoint, NotSupportedError
from gateway.redfish.virtual_media import EXPLICIT_INSERT, INSERT_HABIT, PLAIN_INSERT

IMAGE = "http://127.0.0.1:9/update.iso"


def _with_quirks(emulated: EmulatedCluster, node: dict[str, str], *quirks: str) -> None:
    emulated.bmc(node["id"]).quirks = parse_quirks(quirks)


def _record(client: BmcClient) -> list[tuple[str, str, int]]:
    """(method, path tail, status) of every answer the client gets from now on."""
    seen: list[tuple[str, str, int]] = []

    def hook(response: requests.Response, *_a: Any, **_k: Any) -> None:
        seen.append((str(response.request.method), str(response.request.path_url)
                     .rsplit("/", 1)[-1], response.status_code))

    client._conn._session.hooks["response"].append(hook)
    return seen


@pytest.fixture
def fleet_client(endpoint: BmcEndpoint) -> Iterator[FleetBmcClient]:
    client = FleetBmcClient.connect(endpoint, {})
    yield client
    client.close()


def test_insert_learns_inserted_from_one_refusal(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    _with_quirks(emulated, node, "vmedia-insert-needs-inserted")
    known: dict[str, Any] = {}
    client = FleetBmcClient.connect(endpoint, known)
    try:
        seen = _record(client)
        client.insert_media(IMAGE)
        assert emulated.bmc(node["id"]).media.image == IMAGE
        assert known[INSERT_HABIT] == EXPLICIT_INSERT
        client.eject_media()
        client.insert_media(IMAGE)
        inserts = [s for m, tail, s in seen if tail == "VirtualMedia.InsertMedia"]
        assert inserts == [400, 204, 204]  # refused once, never again
        # A firmware update changes its mind: now it refuses Inserted (re-learnt once).
        client.eject_media()
        _with_quirks(emulated, node, "vmedia-insert-rejects-inserted-writeprotected")
        client.insert_media(IMAGE)
        client.eject_media()
        client.insert_media(IMAGE)
        inserts = [s for m, tail, s in seen if tail == "VirtualMedia.InsertMedia"]
        assert inserts[3:] == [400, 204, 204] and known[INSERT_HABIT] == PLAIN_INSERT
    finally:
        client.close()


@pytest.mark.parametrize("payload_quirk", ["vmedia-insert-needs-inserted",
                                           "vmedia-insert-rejects-inserted-writeprotected"])
def test_insert_reads_the_action_info_before_the_first_attempt(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint,
        payload_quirk: str) -> None:
    """InsertMedia names an ActionInfo: read once, and every insert, the first one
    included, carries the payload it describes (no refusal to learn from)."""
    _with_quirks(emulated, node, payload_quirk, "vmedia-insert-action-info")
    known: dict[str, Any] = {}
    client = FleetBmcClient.connect(endpoint, known)
    try:
        seen = _record(client)
        for _round in range(2):
            client.insert_media(IMAGE)
            assert emulated.bmc(node["id"]).media.image == IMAGE
            client.eject_media()
        assert [s for _m, tail, s in seen if tail == "VirtualMedia.InsertMedia"] == [204, 204]
        assert [s for _m, tail, s in seen if tail == "InsertMediaActionInfo"] == [200]
        assert INSERT_HABIT not in known  # nothing had to be learnt
        refused = [r for r in emulated.bmc(node["id"]).audit.records(node["id"])
                   if r["event"] == "media_insert_refused"]
        assert not refused, refused
    finally:
        client.close()


def test_an_action_info_that_rules_out_http_is_refused_by_name(
        emulated: EmulatedCluster, node: dict[str, str], fleet_client: FleetBmcClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A BMC that only loads CIFS or NFS images (its ActionInfo says so): nothing is
    sent, and the error names the allowable values."""
    _with_quirks(emulated, node, "vmedia-insert-action-info")
    monkeypatch.setattr(virtual_media_view, "TRANSFER_PROTOCOLS", ("CIFS", "NFS"))
    seen = _record(fleet_client)
    with pytest.raises(NotSupportedError, match="allows TransferProtocolType CIFS, NFS"):
        fleet_client.insert_media(IMAGE)
    assert not [s for _m, tail, s in seen if tail == "VirtualMedia.InsertMedia"]
    assert not emulated.bmc(node["id"]).media.inserted


def test_insert_sends_image_alone_where_inserted_is_refused(
        emulated: EmulatedCluster, node: dict[str, str], fleet_client: FleetBmcClient) -> None:
    _with_quirks(emulated, node, "vmedia-insert-rejects-inserted-writeprotected")
    seen = _record(fleet_client)
    fleet_client.insert_media(IMAGE)
    assert emulated.bmc(node["id"]).media.inserted
    assert [s for _m, tail, s in seen if tail == "VirtualMedia.InsertMedia"] == [204]
    assert INSERT_HABIT not in fleet_client.known


def test_eject_is_read_back_and_repeated_while_still_inserted(
        emulated: EmulatedCluster, node: dict[str, str], fleet_client: FleetBmcClient) -> None:
    _with_quirks(emulated, node, "vmedia-stays-inserted-until-ejected-twice")
    fleet_client.insert_media(IMAGE)
    seen = _record(fleet_client)
    fleet_client.eject_media()
    media = fleet_client.media_state()
    assert media is not None and not media.inserted and media.image is None
    assert [s for _m, tail, s in seen if tail == "VirtualMedia.EjectMedia"] == [204, 204]
    assert not emulated.bmc(node["id"]).media.inserted


def test_eject_with_an_empty_body_where_a_bare_one_is_refused(
        emulated: EmulatedCluster, node: dict[str, str], fleet_client: FleetBmcClient) -> None:
    _with_quirks(emulated, node, "vmedia-eject-needs-empty-body")
    fleet_client.insert_media(IMAGE)
    fleet_client.eject_media()  # sushy retries the 400 with {}
    assert not emulated.bmc(node["id"]).media.inserted


def test_cd_boot_uses_usbcd_where_only_that_is_allowed(
        emulated: EmulatedCluster, node: dict[str, str], fleet_client: FleetBmcClient) -> None:
    _with_quirks(emulated, node, "vmedia-boot-target-usbcd")
    bmc = emulated.bmc(node["id"])
    fleet_client.set_boot_once_cd()
    assert (bmc.boot.target, bmc.boot.enabled) == ("UsbCd", "Once")
    assert fleet_client.boot_override().pending
    fleet_client.clear_boot_override()
    assert (bmc.boot.target, bmc.boot.enabled) == ("None", "Disabled")


def test_a_stale_etag_is_read_again_once(
        emulated: EmulatedCluster, node: dict[str, str], fleet_client: FleetBmcClient) -> None:
    _with_quirks(emulated, node, "etag-required-on-patch")
    bmc = emulated.bmc(node["id"])
    fleet_client.boot_override()
    seen = _record(fleet_client)
    raced: list[str] = []

    def power_off_after_read(response: requests.Response, *_a: Any, **_k: Any) -> None:
        # The race a busy BMC shows: the system changes between the client's read of
        # its ETag (sushy reads it just before a PATCH) and the PATCH itself.
        if (not raced and response.request.method == "GET"
                and str(response.request.path_url).endswith("/Systems/1")):
            raced.append(response.headers["ETag"])
            bmc.reset_host("ForceOff" if bmc.power_state() == "On" else "On")

    fleet_client._conn._session.hooks["response"].append(power_off_after_read)
    fleet_client.set_boot_once_cd()
    assert raced
    assert (bmc.boot.target, bmc.boot.enabled) == ("Cd", "Once")
    patches = [s for m, _t, s in seen if m == "PATCH"]
    # The stale ETag (and sushy's retry without one) refused, then one PATCH after a read.
    assert patches == [412, 412, 200] or patches == [412, 412, 204], patches


def test_a_full_session_table_means_basic_auth(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    _with_quirks(emulated, node, "session-limit=1")
    bmc = emulated.bmc(node["id"])
    taken = requests.post(node["url"] + "/redfish/v1/SessionService/Sessions", timeout=10,
                          json={"UserName": node["username"], "Password": node["password"]})
    assert taken.status_code == 201  # someone else holds the only session
    with BmcClient.connect(endpoint) as client:
        assert client.firmware_versions()
        assert client.boot_override().target == "None"
        assert len(bmc.sessions.all()) == 1


def test_a_lost_session_is_replaced_by_a_new_login(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    bmc = emulated.bmc(node["id"])
    with BmcClient.connect(endpoint) as client:
        assert len(bmc.sessions.all()) == 1
        bmc.sessions.clear()  # what a BMC restart does to sessions by default
        assert client.firmware_versions()
        assert len(bmc.sessions.all()) == 1
    assert not bmc.sessions.all()  # and it logged out at the end
