"""The three delivery methods end to end on the emulator; versions decide success."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request, send_file

from emulator.cluster import EmulatedCluster
from emulator.quirks import parse_quirks
from emulator.redfish.update_quirks import push_settings
from gateway.domain import version_mismatches
from gateway.redfish import (
    BmcBusyError,
    BmcClient,
    BmcEndpoint,
    NotSupportedError,
    OperationTimeoutError,
    TaskFailedError,
    TaskRef,
)
from tests.support.wsgi import serving

from .conftest import (
    SMALL_BUNDLE_VERSIONS,
    STARTING_VERSIONS,
    endpoint_of,
    eventually,
    versions_of,
)


def real_sleeps(record: list[float]) -> Any:
    """A sleep that records what was asked and waits a short real while."""
    def sleep(seconds: float) -> None:
        record.append(seconds)
        time.sleep(min(seconds, 0.05))
    return sleep


def test_simple_update_pulls_the_image_and_versions_change(
        client: BmcClient, endpoint: BmcEndpoint, bundle_url: tuple[Path, str]) -> None:
    _, url = bundle_url
    ref = client.simple_update(url, apply_time="Immediate")
    assert isinstance(ref, TaskRef)
    status = client.wait_task(ref, timeout=60, error_interval=0.1, sleep=real_sleeps([]))
    # The BMC package restarts the BMC, which may forget the task (succeeded None):
    # only the versions, read through fresh connections once it is back, decide.
    assert status.succeeded is not False
    assert eventually(lambda: versions_of(endpoint),
                      lambda v: v == SMALL_BUNDLE_VERSIONS) == SMALL_BUNDLE_VERSIONS


def test_multipart_push_streams_the_image_and_versions_change(
        client: BmcClient, endpoint: BmcEndpoint, bundle_url: tuple[Path, str]) -> None:
    path, _ = bundle_url
    with path.open("rb") as image:
        chunks: Iterator[bytes] = iter(lambda: image.read(64 * 1024), b"")
        ref = client.multipart_push(chunks, path.stat().st_size, filename=path.name)
    assert ref is not None
    assert client.wait_task(ref, timeout=60, error_interval=0.1,
                            sleep=real_sleeps([])).succeeded is not False
    assert eventually(lambda: versions_of(endpoint),
                      lambda v: v == SMALL_BUNDLE_VERSIONS) == SMALL_BUNDLE_VERSIONS


def test_targets_limit_the_update_to_one_component(
        client: BmcClient, endpoint: BmcEndpoint, bundle_url: tuple[Path, str]) -> None:
    _, url = bundle_url
    nic = "/redfish/v1/UpdateService/FirmwareInventory/NIC"
    ref = client.simple_update(url, targets=[nic])
    assert ref is not None
    asked: list[float] = []
    status = client.wait_task(ref, timeout=60, sleep=real_sleeps(asked))
    assert status.state == "Completed" and status.succeeded
    # The emulator's monitor says Retry-After: 1 while running; that is what we waited.
    assert asked and set(asked) == {1.0}
    assert versions_of(endpoint) == STARTING_VERSIONS | {"NIC": "7.1"}


def test_virtual_media_boot_applies_the_update_cd(
        emulated: EmulatedCluster, client: BmcClient, endpoint: BmcEndpoint,
        bundle_url: tuple[Path, str]) -> None:
    _, url = bundle_url
    client.insert_media(url)
    client.set_boot_once_cd()
    client.reset_host()
    versions = eventually(lambda: versions_of(endpoint), lambda v: v == SMALL_BUNDLE_VERSIONS)
    assert versions == SMALL_BUNDLE_VERSIONS
    with BmcClient.connect(endpoint) as fresh:
        fresh.eject_media()
        state = fresh.media_state()
        assert state is not None and not state.inserted
        assert not fresh.boot_override().pending  # "Once" was consumed by the boot


def test_a_failing_flash_is_a_failed_task_and_versions_stay(
        emulated: EmulatedCluster, node: dict[str, str], client: BmcClient,
        endpoint: BmcEndpoint, bundle_url: tuple[Path, str]) -> None:
    emulated.faults.set(node["id"], "flash_fails")
    _, url = bundle_url
    ref = client.simple_update(url)
    assert ref is not None
    with pytest.raises(TaskFailedError) as caught:
        client.wait_task(ref, timeout=60, sleep=real_sleeps([]))
    assert not caught.value.transient
    assert versions_of(endpoint)["BIOS"] == STARTING_VERSIONS["BIOS"]


@pytest.fixture
def event_sink() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP receiver for Redfish event pushes."""
    received: list[dict[str, Any]] = []
    app = Flask("event-sink")

    @app.post("/events")
    def events() -> tuple[str, int]:
        received.append(json.loads(request.get_data()))
        return "", 204

    with serving(app) as base_url:
        yield f"{base_url}/events", received


def test_event_subscription_delivers_task_events_with_our_context(
        client: BmcClient, bundle_url: tuple[Path, str],
        event_sink: tuple[str, list[dict[str, Any]]]) -> None:
    destination, received = event_sink
    subscription = client.subscribe_events(destination, context="gw-node-17")
    assert subscription.startswith("/redfish/v1/EventService/Subscriptions/")
    _, url = bundle_url
    ref = client.simple_update(url, targets=["/redfish/v1/UpdateService/FirmwareInventory/NIC"])
    assert ref is not None
    client.wait_task(ref, timeout=60, sleep=real_sleeps([]))
    eventually(lambda: list(received), lambda got: any(
        e.get("Context") == "gw-node-17" and any(
            "TaskCompletedOK" in str(r.get("MessageId")) for r in e.get("Events", []))
        for e in got))
    client.unsubscribe_events(subscription)
    client.unsubscribe_events(subscription)  # already gone: fine


def test_a_hanging_task_times_out_as_a_transient_error(
        emulated: EmulatedCluster, node: dict[str, str], client: BmcClient,
        bundle_url: tuple[Path, str]) -> None:
    emulated.faults.set(node["id"], "task_hangs")
    _, url = bundle_url
    ref = client.simple_update(url)
    assert ref is not None
    with pytest.raises(OperationTimeoutError, match="still") as caught:
        client.wait_task(ref, timeout=0.5, sleep=real_sleeps([]))
    assert caught.value.transient


def test_a_task_that_claims_success_is_judged_by_the_versions(
        emulated: EmulatedCluster, node: dict[str, str], client: BmcClient,
        endpoint: BmcEndpoint, bundle_url: tuple[Path, str]) -> None:
    # The BIOS activation is silently lost: the task still completes.
    emulated.faults.set(node["id"], "version_unchanged", component="BIOS")
    _, url = bundle_url
    ref = client.simple_update(url)
    assert ref is not None
    status = client.wait_task(ref, timeout=60, error_interval=0.1, sleep=real_sleeps([]))
    assert status.succeeded is not False  # the BMC does not admit anything went wrong
    versions = eventually(lambda: versions_of(endpoint), lambda v: v["BMC"] == "2.0.0")
    expected = tuple(sorted(SMALL_BUNDLE_VERSIONS.items()))
    assert version_mismatches(expected, versions) == ["BIOS: expected 1.5.0, found 1.0.0"]


def test_started_tasks_are_listed_for_crash_recovery(
        client: BmcClient, bundle_url: tuple[Path, str]) -> None:
    _, url = bundle_url
    ref = client.simple_update(url, targets=["/redfish/v1/UpdateService/FirmwareInventory/NIC"])
    assert ref is not None
    client.wait_task(ref, timeout=60, sleep=real_sleeps([]))
    listed = client.list_tasks()
    assert len(listed) == 1 and listed[0].state == "Completed" and listed[0].start_time
    assert client.task_status(listed[0].ref).succeeded


@pytest.fixture
def protected_bundle(bundle_url: tuple[Path, str]) -> Iterator[tuple[str, tuple[str, str]]]:
    """The bundle behind HTTP Basic auth on a loopback server: (url, credentials)."""
    path, _ = bundle_url
    credentials = ("media-reader", "m3dia-s3cret")
    app = Flask("protected-media")

    @app.get("/bundle.iso")
    def bundle() -> Any:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != credentials:
            return "", 401, {"WWW-Authenticate": 'Basic realm="media"'}
        return send_file(path, conditional=True)

    with serving(app) as base_url:
        yield f"{base_url}/bundle.iso", credentials


def test_simple_update_presents_image_credentials_without_logging_them(
        client: BmcClient, endpoint: BmcEndpoint, caplog: pytest.LogCaptureFixture,
        protected_bundle: tuple[str, tuple[str, str]]) -> None:
    url, credentials = protected_bundle
    nic = ["/redfish/v1/UpdateService/FirmwareInventory/NIC"]
    refused = client.simple_update(url, targets=nic)
    assert refused is not None
    with pytest.raises(TaskFailedError):
        client.wait_task(refused, timeout=60, sleep=real_sleeps([]))
    caplog.set_level(logging.DEBUG)
    ref = client.simple_update(url, targets=nic, credentials=credentials)
    assert ref is not None
    assert client.wait_task(ref, timeout=60, sleep=real_sleeps([])).succeeded
    assert versions_of(endpoint)["NIC"] == "7.1"
    assert not any(credentials[1] in r.getMessage() for r in caplog.records)


def test_http_push_reservation_of_another_client_is_waited_out(
        emulated: EmulatedCluster, node: dict[str, str], client: BmcClient,
        bundle_url: tuple[Path, str]) -> None:
    """A BMC with only HttpPushUri: while HttpPushUriTargetsBusy is held (not by this
    run), nothing is pushed; held by this run's earlier attempt (a crash between the
    reservation and its release), the push goes on and every setting is put back."""
    bmc = emulated.bmc(node["id"])
    bmc.quirks = parse_quirks(["http-push-only"])
    held = push_settings(bmc)
    held.busy, held.targets = True, ["/redfish/v1/UpdateService/FirmwareInventory/BIOS"]
    path, _ = bundle_url
    nic = "/redfish/v1/UpdateService/FirmwareInventory/NIC"

    def push(ours: bool) -> TaskRef | None:
        with path.open("rb") as image:
            chunks: Iterator[bytes] = iter(lambda: image.read(64 * 1024), b"")
            return client.multipart_push(chunks, path.stat().st_size, targets=[nic],
                                         reservation_may_be_ours=ours)

    with pytest.raises(BmcBusyError, match="HttpPushUriTargetsBusy"):
        push(False)
    assert not [r for r in bmc.audit.records(node["id"]) if r["event"] == "flash_start"]
    ref = push(True)
    assert ref is not None
    assert client.wait_task(ref, timeout=60, error_interval=0.1,
                            sleep=real_sleeps([])).state == "Completed"
    assert versions_of(endpoint_of(node)) == STARTING_VERSIONS | {"NIC": "7.1"}
    # Put back as the BMC showed them before the push (the stale BIOS target included),
    # the reservation released.
    assert (held.busy, held.targets) == (False, [
        "/redfish/v1/UpdateService/FirmwareInventory/BIOS"])


def test_http_push_refuses_a_forced_downgrade_by_name(
        emulated: EmulatedCluster, node: dict[str, str], client: BmcClient) -> None:
    emulated.bmc(node["id"]).quirks = parse_quirks(["http-push-only"])
    with pytest.raises(NotSupportedError, match="HttpPushUri has no ForceUpdate"):
        client.multipart_push(iter([b"x"]), 1, force=True)
