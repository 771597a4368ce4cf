"""BmcClient: one BMC, the operations the executor needs, our errors only.

Everything returned is plain data (gateway.domain dataclasses or small
frozen dataclasses of this package); every sushy/requests exception is
translated into a RedfishError with ``transient`` set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Self

import requests
import sushy
from sushy.resources.manager.virtual_media import VirtualMedia
from sushy.resources.system.system import System

from gateway.domain.inventory import FirmwareComponent, NodeInventory, UpdateCapabilities
from gateway.redfish import (
    event_service,
    fallback,
    http_push,
    systems,
    update_service,
    virtual_media,
)
from gateway.redfish.bmc_session import BmcSession
from gateway.redfish.common import link
from gateway.redfish.connector import FleetConnector, mount_pinning, open_service
from gateway.redfish.endpoint import BmcEndpoint
from gateway.redfish.errors import (
    NotSupportedError,
    OperationTimeoutError,
    RedfishError,
    ResourceMissingError,
)
from gateway.redfish.fallback import FIRMWARE_INVENTORY
from gateway.redfish.systems import BootOverride
from gateway.redfish.tasks import (
    TaskRef,
    TaskStatus,
    TaskSummary,
    list_jobs,
    list_tasks,
    newest_since,
    poll_task,
    wait_for_task,
)
from gateway.redfish.virtual_media import MediaState

LOG = logging.getLogger(__name__)


class BmcClient:
    """A logged-in connection to one BMC. Use ``BmcClient.connect(endpoint)``."""

    def __init__(self, endpoint: BmcEndpoint, root: sushy.Sushy) -> None:
        self.endpoint = endpoint
        self._root = root

    @classmethod
    def connect(cls, endpoint: BmcEndpoint) -> Self:
        """Connect and log in; raises RedfishError (e.g. BmcUnreachableError, TlsError)."""
        return cls(endpoint, open_service(endpoint))

    def close(self) -> None:
        """Log out (end the Redfish session) and drop the connection; never raises."""
        # Detach the auth first: sushy's Sushy.__del__ logs out again (an HTTP
        # DELETE) whenever the garbage collector reaches the object, on whatever
        # thread it runs, unless the logout above reset the session, which it
        # does not when the BMC restarted meanwhile (404) or is down.
        auth, self._root._auth = self._root._auth, None
        try:
            if auth is not None:
                auth.close()
        except Exception as exc:  # the BMC may already be gone: nothing to clean up
            LOG.debug("closing session with %s: %s", self.endpoint.name, exc)
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _conn(self) -> FleetConnector:
        conn: FleetConnector = self._root._conn
        return conn

    def _root_json(self) -> dict[str, Any]:
        """The service root as read when the client logged in (sushy reads it first): its
        links do not change while a client lives, and a BMC restart (new firmware) ends
        the client (its session is gone): a new client reads the root again."""
        body: dict[str, Any] = self._root.json
        return body

    def _update_service(self) -> dict[str, Any]:
        return update_service.read_service(self._conn, self._root_json())

    def _update_service_or_none(self) -> dict[str, Any] | None:
        """The UpdateService, or None when the root links none (read versions elsewhere)."""
        root = self._root_json()
        if link(root, "UpdateService") is None:
            return None
        return update_service.read_service(self._conn, root)

    def _chosen_system(self) -> System:
        """The ComputerSystem this endpoint manages (see systems.choose_system)."""
        return systems.find_system(self._root, self.endpoint.system)

    def system_paths(self) -> list[str]:
        """Every ComputerSystem the service root serves (member paths, sorted)."""
        return systems.system_paths(self._root)

    # ---------------------------------------------------------------- inventory

    def inventory(self) -> NodeInventory:
        """Model, serial, power, health, firmware versions and capabilities. Versions
        come from FirmwareInventory or, on a BMC without one, from the fallback
        sources (gateway.redfish.fallback); ``capabilities.version_source`` says which."""
        system = self._inventory_system()
        facts = systems.facts_of(system)
        service = self._update_service_or_none()
        firmware, source = self._inventory_firmware(service, system)
        known = service or {}
        return NodeInventory.of(
            facts, firmware,
            UpdateCapabilities(
                simple_update=update_service.simple_update_action(known) is not None,
                transfer_protocols=update_service.transfer_protocols(known),
                multipart_push=update_service.multipart_push_uri(known) is not None,
                http_push=http_push.http_push_uri(known) is not None,
                virtual_media_cd=self._inventory_cd() is not None,
                apply_times=update_service.apply_times(known),
                max_image_size=update_service.max_image_size(known),
                version_source=source,
            ),
        )

    # The lookups of an inventory, as hooks: a subclass may remember what they found.

    def _inventory_system(self) -> dict[str, Any]:
        """The ComputerSystem as a document (facts, and links for the fallback)."""
        doc: dict[str, Any] = self._chosen_system().json
        return doc

    def _inventory_cd(self) -> VirtualMedia | None:
        return virtual_media.find_cd(self._root, self._chosen_system() if self.endpoint.system
                                     else None)

    def _inventory_firmware(self, service: dict[str, Any] | None, system: dict[str, Any]
                            ) -> tuple[tuple[FirmwareComponent, ...], str]:
        """The components and where their versions were read (see inventory)."""
        why = "no UpdateService" if service is None else "no FirmwareInventory"
        if service is not None and link(service, "FirmwareInventory") is not None:
            try:
                return self._read_firmware_inventory(service), FIRMWARE_INVENTORY
            except ResourceMissingError:
                why = "FirmwareInventory is linked but answers 404"
        return self._read_fallback(system, why)

    def _read_firmware_inventory(self, service: dict[str, Any]
                                 ) -> tuple[FirmwareComponent, ...]:
        return update_service.read_firmware(self._conn, service)

    def _read_fallback(self, system: dict[str, Any], why: str
                       ) -> tuple[tuple[FirmwareComponent, ...], str]:
        manager = fallback.manager_uri(self._conn, system, self._root_json())
        return fallback.read_fallback(self._conn, system, manager, why)

    def firmware_versions(self) -> dict[str, str]:
        """Component name → installed version (what decides an update's success), read
        by the inventory's rule (FirmwareInventory when offered, else the fallback)."""
        service = self._update_service_or_none()
        components, _source = self._inventory_firmware(service, self._chosen_system().json)
        return {c.id: c.version for c in components}

    # ---------------------------------------------------------------- delivery

    def simple_update(self, image_uri: str, *, targets: Sequence[str] = (),
                      protocol: str | None = None, apply_time: str | None = None,
                      force: bool = False,
                      credentials: tuple[str, str] | None = None) -> TaskRef | None:
        """Ask the BMC to pull ``image_uri``; the task to follow, or None if already done."""
        return update_service.simple_update(
            self._conn, self._update_service(), image_uri, targets=targets,
            protocol=protocol, apply_time=apply_time, force=force, credentials=credentials)

    def multipart_push(self, chunks: Iterable[bytes], size: int, *,
                       filename: str = "image.iso", targets: Sequence[str] = (),
                       apply_time: str | None = None, force: bool = False,
                       timeout: float | None = None,
                       reservation_may_be_ours: bool = False) -> TaskRef | None:
        """The push delivery: stream ``size`` bytes to MultipartHttpPushUri or, on a BMC
        that offers only the older HttpPushUri, as its raw body (gateway.redfish.http_push;
        ``reservation_may_be_ours``: an HttpPushUriTargetsBusy found set may be this
        run's, left by a crash). The task, or None if done."""
        service = self._update_service()
        if (update_service.multipart_push_uri(service) is None
                and http_push.http_push_uri(service) is not None):
            return http_push.http_push(
                self._conn, str(service["@odata.id"]), chunks, size, targets=targets,
                apply_time=apply_time, force=force, timeout=timeout,
                reservation_may_be_ours=reservation_may_be_ours)
        return update_service.multipart_push(
            self._conn, service, chunks, size, filename=filename,
            targets=targets, apply_time=apply_time, force=force, timeout=timeout)

    def insert_media(self, image_url: str,
                     credentials: tuple[str, str] | None = None) -> None:
        """Insert the image in the virtual CD (ejecting anything else first)."""
        virtual_media.insert(self._require_cd(), image_url, credentials)

    def _require_cd(self) -> VirtualMedia:
        media = self._inventory_cd()
        if media is None:
            raise NotSupportedError("the BMC offers no virtual CD/DVD")
        return media

    def eject_media(self) -> None:
        """Eject the virtual CD if anything is inserted (idempotent)."""
        media = self._inventory_cd()
        if media is not None:
            virtual_media.eject(media)

    def media_state(self) -> MediaState | None:
        media = self._inventory_cd()
        return virtual_media.state_of(media) if media is not None else None

    def set_boot_once_cd(self) -> None:
        systems.set_boot_once_cd(self._chosen_system())

    def clear_boot_override(self) -> None:
        systems.clear_boot_override(self._chosen_system())

    def boot_override(self) -> BootOverride:
        return systems.boot_override_of(self._chosen_system().json)

    def reset_host(self, reset_type: str | None = None) -> str:
        """Reset the host (ForceRestart, or On when off); returns the ResetType sent."""
        return systems.reset_host(self._chosen_system(), reset_type)

    # ---------------------------------------------------------------- tasks, events

    def list_tasks(self) -> list[TaskSummary]:
        """Every task the BMC lists (see tasks.list_tasks)."""
        return list_tasks(self._conn, self._root_json())

    def find_update_task(self, since: datetime) -> TaskRef | None:
        """The newest task started at or after ``since`` (an update request whose answer
        was lost) or, when the BMC lists none, the newest such update Job: the Task of
        an update moved to a Job may be gone while the Job runs (docs/interop.md,
        "job-instead-of-task"). Raises RedfishError."""
        found = newest_since(self.list_tasks(), since)
        if found is None:
            found = newest_since(list_jobs(self._conn, self._root_json()), since)
        return found

    def task_status(self, ref: TaskRef) -> TaskStatus:
        return poll_task(self._conn, ref)

    def wait_task(self, ref: TaskRef, *, timeout: float, max_interval: float = 10.0,
                  error_interval: float = 2.0,
                  sleep: Callable[[float], None] = time.sleep) -> TaskStatus:
        """Poll until done (see tasks.wait_for_task); seconds throughout."""
        return wait_for_task(self._conn, ref, timeout=timeout, max_interval=max_interval,
                             error_interval=error_interval, sleep=sleep)

    def subscribe_events(self, destination: str, *, context: str) -> str:
        return event_service.subscribe(self._conn, self._root_json(), destination,
                                       context=context)

    def ensure_event_subscription(
            self, destination: str, *, context: str,
            superseded: Callable[[str], bool] | None = None) -> str:
        """The URI of this BMC's subscription pushing to ``destination``, created only
        if none exists; others with the same ``context`` whose Destination is
        ``superseded`` are deleted (see event_service.ensure_subscription)."""
        return event_service.ensure_subscription(self._conn, self._root_json(), destination,
                                                 context=context, superseded=superseded)

    def unsubscribe_events(self, subscription_uri: str) -> None:
        event_service.unsubscribe(self._conn, subscription_uri)


def list_systems(endpoint: BmcEndpoint) -> list[str]:
    """Log in, list the systems behind the root, log out. Raises RedfishError."""
    with BmcClient.connect(endpoint) as client:
        return client.system_paths()


def probe_session(endpoint: BmcEndpoint) -> requests.Session:
    """A requests session for repeated ``probe`` calls to one BMC (keeps the connection
    alive between probes; the pinned certificate is checked as for the client)."""
    session = BmcSession()  # nothing from ~/.netrc or proxy variables: see BmcSession
    mount_pinning(session, endpoint)
    return session


def probe(endpoint: BmcEndpoint, *, timeout: float = 5.0,
          session: requests.Session | None = None) -> bool:
    """One health probe of a BMC: True when it answers the service root and, logged in,
    its Systems collection with 200. Never raises (a refused connection is False).

    ``session`` (from ``probe_session``) is reused and left open; without it a fresh
    one is made and closed."""
    auth = (endpoint.username, endpoint.password)
    verify = endpoint.requests_verify()
    owned = session is None
    if session is None:
        session = probe_session(endpoint)
    try:
        # /redfish/v1/ is fixed by DSP0266; everything else is followed from it.
        root = session.get(endpoint.url + "/redfish/v1/", verify=verify, timeout=timeout)
        systems_uri = link(root.json(), "Systems") if root.status_code == 200 else None
        if systems_uri is None:
            return False
        answer = session.get(endpoint.url + systems_uri, auth=auth, verify=verify,
                             timeout=timeout)
        return answer.status_code == 200
    except (requests.exceptions.RequestException, ValueError):
        return False
    finally:
        if owned:
            session.close()


def wait_until_back(
    endpoint: BmcEndpoint, *, good_answers: int = 3, interval: float = 1.0,
    timeout: float = 600.0, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    check: Callable[[BmcEndpoint], bool] = probe,
) -> int:
    """Block until ``good_answers`` consecutive probes succeed (one every ``interval`` s).

    A BMC that restarts answers, then refuses, then answers again: a single
    good answer proves nothing. Returns the number of probes made. Raises
    OperationTimeoutError after ``timeout`` seconds.
    """
    if good_answers < 1:
        raise ValueError("good_answers must be ≥ 1")
    deadline = clock() + timeout
    streak = probes = 0
    while True:
        probes += 1
        streak = streak + 1 if check(endpoint) else 0
        if streak >= good_answers:
            return probes
        if clock() >= deadline:
            raise OperationTimeoutError(
                f"BMC {endpoint.name} not back after {timeout:.0f} s "
                f"({streak} of {good_answers} consecutive good answers)"
            )
        sleep(interval)


__all__ = ["BmcClient", "RedfishError", "list_systems", "probe", "probe_session",
           "wait_until_back"]
