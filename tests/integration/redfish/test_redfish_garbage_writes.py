"""A BMC that answers nonsense to a write (InsertMedia, EjectMedia, the PATCH of the boot
override, ComputerSystem.Reset, SimpleUpdate): a success status with garbage, an HTML
error page, or a JSON error cut short. The write ends in a RedfishError naming what the
BMC said (one line, truncated, secrets blanked: gateway.redfish.errors.quoted) or, for a
success status, in the outcome a caller checks afterwards; never in another exception,
a hang or a traceback. A real emulated BMC behind a real loopback proxy."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import pytest

from gateway.orchestrator.bmc import FleetBmcClient
from gateway.redfish import BmcEndpoint
from tests.support.garbage_proxy import Garbage, GarbageProxy, said_to

JSON = (("Content-Type", "application/json"),)
SECRET = "hunter2"
# What each garbage answer must be quoted by (None: a success status, see below).
ANSWERS: dict[str, tuple[int, bytes, tuple[tuple[str, str], ...], str | None]] = {
    "200 with garbage": (200, b'\x00\xff{"@odata.id": [nonsense', JSON, None),
    "204 with garbage": (204, b"<<not a body>>", JSON, None),
    "HTML error page": (
        500, b"<html><head><title>500 Internal Server Error</title></head><body><h1>"
             b"Internal Server Error</h1>" + b"x" * 2000 + b"</body></html>",
        (("Content-Type", "text/html"),), "500 Internal Server Error"),
    "truncated JSON error": (
        400, b'{"error": {"code": "Base.1.0.GeneralError", "message": "refused", '
             b'"@Message.ExtendedInfo": [{"MessageId": "Base.1.8.PropertyValueNotInList", '
             b'"Password": "' + SECRET.encode() + b'", "Message": "The val', JSON,
        "PropertyValueNotInList"),
}

CD = "/redfish/v1/Managers/1/VirtualMedia/CD"
SYSTEM = "/redfish/v1/Systems/1"
Write = Callable[[FleetBmcClient], object]
WRITES: dict[str, tuple[str, str, Write]] = {
    "InsertMedia": ("POST", f"{CD}/Actions/VirtualMedia.InsertMedia",
                    lambda c: c.insert_media("http://127.0.0.1:9/update.iso")),
    "EjectMedia": ("POST", f"{CD}/Actions/VirtualMedia.EjectMedia",
                   lambda c: c.eject_media()),
    "boot override PATCH": ("PATCH", SYSTEM, lambda c: c.set_boot_once_cd()),
    "ComputerSystem.Reset": ("POST", f"{SYSTEM}/Actions/ComputerSystem.Reset",
                             lambda c: c.reset_host("ForceRestart")),
    "SimpleUpdate": ("POST", "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                     lambda c: c.simple_update("http://127.0.0.1:9/update.iso")),
}


@pytest.mark.parametrize(("write", "answer"), list(product(WRITES, ANSWERS)))
def test_nonsense_answering_a_write_is_named_or_left_to_the_check(
        write: str, answer: str, proxied: tuple[GarbageProxy, BmcEndpoint]) -> None:
    method, path, act = WRITES[write]
    proxy, endpoint = proxied
    status, body, headers, quoted_by = ANSWERS[answer]
    # An eject of an empty slot sends nothing: the CD is loaded first.
    prepare = (lambda c: c.insert_media("http://127.0.0.1:9/update.iso")) \
        if write == "EjectMedia" else (lambda _c: None)
    said = said_to(proxy, endpoint, Garbage(path, status, body, headers, method), act, prepare)
    # A success status is an acceptance: the body is not needed (the caller reads back
    # the media state, the boot override, the host, the versions); an error is named.
    if quoted_by is not None:
        assert quoted_by in said, said
    assert len(said) <= 600, said
    assert "Traceback" not in said and SECRET not in said, said
    print(write, answer, "->", said or "accepted")
