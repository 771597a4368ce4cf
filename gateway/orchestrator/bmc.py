"""BMC access for node workers: the Redfish client plus task listing, and the URIs it
remembers (pooled per node by gateway.orchestrator.client_pool)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sushy.resources.manager.virtual_media import VirtualMedia
from sushy.resources.system.system import System

from gateway.domain import FirmwareComponent, NodeInventory, PowerState
from gateway.domain.inventory import SystemFacts
from gateway.domain.update_signals import UpdateSignal
from gateway.orchestrator import bmc_logs
from gateway.redfish import (
    BmcClient,
    BmcEndpoint,
    MediaState,
    NotSupportedError,
    RedfishError,
    TaskRef,
    fallback,
    systems,
    update_service,
    virtual_media,
)
from gateway.redfish.common import link, member_links
from gateway.redfish.errors import ResourceMissingError, translated

_R = TypeVar("_R", VirtualMedia, System)
FALLBACK = "fallback"  # known["versions_from"] of a BMC read without FirmwareInventory
MEMBER_RELISTS = 3  # FirmwareInventory listings retried when a listed member 404s


class FleetBmcClient(BmcClient):
    """BmcClient plus the reads the executor needs to resume after a crash, and a cheap
    version read for polling (the member URIs of FirmwareInventory are remembered)."""

    _members: list[str] | None = None
    _cd: VirtualMedia | None = None
    _system: System | None = None
    # Read in the node's current step (step_begins .. step_ends) and not changed by this
    # client since: read again in that step, it would tell nothing new.
    _system_current: bool = False
    _in_step: bool = False
    # URIs discovered by earlier clients of the same node (shared through the ClientPool
    # of gateway.orchestrator.client_pool): a client made after a BMC restart reads its
    # system and CD directly instead of walking Managers and Systems again. A stale URI
    # is forgotten and rediscovered.
    known: dict[str, Any]
    # Called before every request that changes the BMC (media, boot, reset, update):
    # raises when this gateway no longer holds the node's lease at its fencing counter
    # (ClientPool.set_guard; see gateway/store/run_leases.py). None: unguarded.
    guard: Callable[[], None] | None = None

    def __init__(self, endpoint: BmcEndpoint, root: Any) -> None:
        super().__init__(endpoint, root)
        self.known = {}
        self._system_doc: dict[str, Any] = {}  # the system as last read (_host_doc)

    def _fenced(self) -> None:
        if self.guard is not None:
            self.guard()

    def step_begins(self) -> None:
        """A node step begins: what this client read before is read again when asked."""
        self._in_step, self._system_current = True, False

    def step_ends(self) -> None:
        self._in_step = self._system_current = False

    # The lookups below are cached per client (a client lives while one node is driven
    # and is dropped after any error): walking Managers and Systems for every call would
    # triple the requests a rollout of a thousand nodes makes.

    def _remembered(self, key: str, what: str, open_at: Callable[[str], _R],
                    discover: Callable[[], _R | None]) -> _R | None:
        """The resource at the URI remembered under ``key`` (one GET) or, when none is
        remembered or it is gone, the one ``discover`` finds from the service root
        (then remembered). Transient errors propagate; the URI is kept for them."""
        path = self.known.get(key)
        if path:
            try:
                with translated(what):
                    return open_at(path)
            except RedfishError as exc:
                if exc.transient:
                    raise
                self.known.pop(key, None)
        found = discover()
        if found is not None:
            self.known[key] = found.path
        return found

    def _cd_slot(self) -> VirtualMedia | None:
        if self._cd is None:
            self._cd = self._remembered(
                "cd", "reading virtual media",
                lambda path: VirtualMedia(self._conn, path,
                                          redfish_version=self._root.redfish_version,
                                          root=self._root),
                lambda: virtual_media.find_cd(
                    self._root, self._host() if self.endpoint.system else None))
        return self._cd

    def _host(self) -> System:
        """The ComputerSystem resource as this client first read it: for actions, and
        links that do not change while a client lives (read fresh: _host_doc)."""
        if self._system is None:
            system = self._remembered(
                "system", "reading the system", self._root.get_system,
                lambda: systems.find_system(self._root, self.endpoint.system))
            assert system is not None  # find_system raises rather than return None
            self._system, self._system_doc = system, system.json
            self._system_current = self._in_step
        return self._system

    def _host_doc(self) -> dict[str, Any]:
        """The ComputerSystem read fresh: one GET of its JSON once it is known (sushy's
        refresh would parse every field, and facts, boot override and power use three),
        none when this step read it already and changed nothing since."""
        if self._system is None:
            self._host()
        elif not self._system_current:
            with translated("reading the system"):
                self._system_doc = self._conn.get(self._system.path).json()
            self._system_current = self._in_step
        return self._system_doc

    def inventory(self) -> NodeInventory:
        """BmcClient's inventory, and whether the virtual CD can be loaded at all (a slot
        without InsertMedia makes MSC unusable: refused at precheck, not in deliver)."""
        found = super().inventory()
        # Compared when the BMC answers again after not answering (ClientPool.get).
        self.known["identity"] = self.identity()
        cd = self._cd_slot()  # read by the inventory just now: no request
        if cd is None or virtual_media.can_insert(cd):
            return found
        return dataclasses.replace(found, capabilities=dataclasses.replace(
            found.capabilities, virtual_media_insert=False))

    # Inventory lookups that remember what they found (see BmcClient.inventory).

    def _inventory_system(self) -> dict[str, Any]:
        return self._host_doc()

    def _inventory_cd(self) -> VirtualMedia | None:
        return self._cd_slot()

    def _read_firmware_inventory(self, service: dict[str, Any]
                                 ) -> tuple[FirmwareComponent, ...]:
        uris, components = update_service.read_firmware_members(self._conn, service)
        # Both refreshed: a member's URI may change with its version (Dell's Ids).
        self._members = self.known["members"] = sorted(uris.values())
        self.known["member_uris"] = uris
        self.known["versions_from"] = fallback.FIRMWARE_INVENTORY
        return components

    def _read_fallback(self, system: dict[str, Any], why: str
                       ) -> tuple[tuple[FirmwareComponent, ...], str]:
        # Remembered: later reads (VERIFY) use the same source, never another one.
        manager = fallback.manager_uri(self._conn, system, self._root_json())
        self.known["versions_from"] = FALLBACK
        self.known["manager"] = manager
        return fallback.read_fallback(self._conn, system, manager, why)

    def identity(self) -> dict[str, str]:
        """What tells one BMC firmware from another: the service root's UUID and the
        Manager's FirmwareVersion, those the BMC offers (docs/interop.md,
        "reshaped-by-bmc-update"). Raises RedfishError."""
        found: dict[str, str] = {}
        uuid = self._root_json().get("UUID")
        if isinstance(uuid, str) and uuid.strip():
            found["UUID"] = uuid.strip()
        manager = self.known.get("identity_manager") or fallback.manager_uri(
            self._conn, self._host().json, self._root_json())
        if manager is not None:
            with translated("reading the manager"):
                body = self._conn.get(manager).json()
            version = body.get("FirmwareVersion") if isinstance(body, dict) else None
            if isinstance(version, str) and version.strip():
                found["FirmwareVersion"] = version.strip()
            self.known["identity_manager"] = manager
        return found

    def media_state(self) -> MediaState | None:
        fresh = self._cd is None  # _cd_slot reads the slot when it is not yet known
        media = self._cd_slot()
        if media is None:
            return None
        return virtual_media.state_of(media, refresh=not fresh)

    def insert_media(self, image_url: str,
                     credentials: tuple[str, str] | None = None, *,
                     current: MediaState | None = None) -> None:
        """Insert ``image_url``; ``current``: the slot's state just read by this client
        (spares reading it again)."""
        media = self._cd_slot()
        if media is None:
            raise NotSupportedError("the BMC offers no virtual CD/DVD")
        self._fenced()
        virtual_media.insert(media, image_url, credentials, current=current,
                             habits=self.known)

    def eject_media(self, *, current: MediaState | None = None) -> None:
        media = self._cd_slot()
        if media is not None:
            self._fenced()
            virtual_media.eject(media, current=current)

    def set_boot_once_cd(self) -> None:
        self._fenced()
        self._system_current = False
        systems.set_boot_once_cd(self._host())

    def clear_boot_override(self) -> None:
        self._fenced()
        self._system_current = False
        systems.clear_boot_override(self._host())

    def boot_override(self) -> systems.BootOverride:
        return systems.boot_override_of(self._host_doc())

    def reset_host(self, reset_type: str | None = None) -> str:
        doc = self._host_doc()
        self._fenced()
        self._system_current = False
        return systems.reset_host(self._host(), reset_type, doc)

    def simple_update(self, image_uri: str, *, targets: Sequence[str] = (),
                      protocol: str | None = None, apply_time: str | None = None,
                      force: bool = False,
                      credentials: tuple[str, str] | None = None) -> TaskRef | None:
        self._fenced()
        return super().simple_update(image_uri, targets=targets, protocol=protocol,
                                     apply_time=apply_time, force=force,
                                     credentials=credentials)

    def multipart_push(self, chunks: Iterable[bytes], size: int, *,
                       filename: str = "image.iso", targets: Sequence[str] = (),
                       apply_time: str | None = None, force: bool = False,
                       timeout: float | None = None,
                       reservation_may_be_ours: bool = False) -> TaskRef | None:
        self._fenced()
        return super().multipart_push(chunks, size, filename=filename, targets=targets,
                                      apply_time=apply_time, force=force, timeout=timeout,
                                      reservation_may_be_ours=reservation_may_be_ours)

    def component_versions(self, only: Collection[str] | None = None) -> dict[str, str]:
        """Component name -> installed version, one GET per FirmwareInventory member once
        the members are known; on a BMC whose inventory read the fallback sources, from
        those sources again (never from another one). ``only``: the components wanted,
        read alone when each is a known member still running under that name (else all
        are read). Raises RedfishError."""
        if only is not None and (versions := self._some_member_versions(only)) is not None:
            return versions
        source = self.known.get("versions_from")
        if source is None:
            # Nothing read yet in this process (e.g. after a gateway restart): the source
            # the inventory's rule picks, which is then remembered.
            components, _source = self._inventory_firmware(self._update_service_or_none(),
                                                           self._host_doc())
            return {c.id: c.version for c in components}
        if source == FALLBACK:
            return self._fallback_versions()
        # A member vanished between the listing and its read: a staged image the host
        # reset has just activated, or a Dell Id that changed with its version; a reset
        # activates images one after another (docs/interop.md). Listed afresh, a
        # bounded number of times.
        for _again in range(MEMBER_RELISTS):
            try:
                return self._member_versions()
            except ResourceMissingError:
                continue
        return self._member_versions()

    def _some_member_versions(self, components: Collection[str]) -> dict[str, str] | None:
        """The versions of ``components`` from their known members alone, or None when
        one is not a known member, is gone or no longer its component's running image
        (activated staged images, Ids that change with the version: read them all)."""
        uris: dict[str, str] = self.known.get("member_uris") or {}
        if self.known.get("versions_from") in (None, FALLBACK) or any(
                c not in uris for c in components):
            return None
        versions: dict[str, str] = {}
        for component in sorted(components):
            try:
                with translated("reading FirmwareInventory"):
                    body = self._conn.get(uris[component]).json()
            except ResourceMissingError:
                return None
            if not isinstance(body, dict) or not (update_service.is_running_image(body)
                    and update_service.component_name(body) == component):
                return None
            versions[component] = str(body.get("Version") or "")
        return versions

    def _member_versions(self) -> dict[str, str]:
        if self._members is None:
            self._members = self.known.get("members")
        if self._members is None:
            service = self._update_service()
            inventory_uri = link(service, "FirmwareInventory")
            if inventory_uri is None:
                raise NotSupportedError(
                    "the BMC no longer offers FirmwareInventory, where its versions were "
                    "read: they cannot be verified from another source")
            with translated("reading FirmwareInventory"):
                self._members = member_links(self._conn.get(inventory_uri).json())
            self.known["members"] = self._members
        try:
            with translated("reading FirmwareInventory"):
                # A staged image (gone after its reset) is not a version; members are
                # named by what they are, not by an Id that may change with the version.
                running = update_service.running_members(
                    [(uri, self._conn.get(uri).json()) for uri in self._members])
        except RedfishError as exc:
            # Members may have moved (e.g. after a BMC firmware update): rediscover.
            self._members = None
            if not exc.transient:
                self.known.pop("members", None)
            raise
        versions = {name: str(body.get("Version") or "") for name, (_u, body) in running.items()}
        uris = {name: uri for name, (uri, _body) in running.items()}
        if len(uris) < len(self._members):
            self._members = sorted(uris.values())
            self.known["members"] = self._members
        self.known["member_uris"] = uris
        return versions

    def log_signals(self, since: datetime, *, slack: bool = True) -> list[UpdateSignal]:
        """The entries of the system's and the manager's logs created at or after ``since``
        (see bmc_logs.remembered_signals). Raises transient RedfishErrors only."""
        return bmc_logs.remembered_signals(self._conn, self.known, self._host, self._root_json(),
                                           self.endpoint.name, since, slack=slack)

    def _fallback_versions(self) -> dict[str, str]:
        """BiosVersion and Manager.FirmwareVersion, read fresh (see gateway.redfish.fallback)."""
        system = self._host_doc()
        manager = self.known.get("manager")
        if manager is None:
            manager = fallback.manager_uri(self._conn, system, self._root_json())
        components, _source = fallback.read_fallback(self._conn, system, manager)
        return {c.id: c.version for c in components}

    def firmware_targets(self, components: Iterable[str]) -> list[str] | None:
        """The FirmwareInventory member URIs of ``components``: an update's ``Targets``,
        so the BMC applies nothing else from the image. None when one of them is not a
        FirmwareInventory member. Raises RedfishError."""
        wanted = sorted(set(components))
        uris: dict[str, str] = self.known.get("member_uris") or {}
        # Twice at most: in a fresh process (after a restart) the first read finds the
        # members by the inventory's rule, the second maps each to its component.
        for _read in range(2):
            if all(component in uris for component in wanted):
                return [uris[component] for component in wanted]
            self.component_versions()
            uris = self.known.get("member_uris") or {}
        if any(component not in uris for component in wanted):
            return None
        return [uris[component] for component in wanted]

    @classmethod
    def connect(cls, endpoint: BmcEndpoint,
                known: dict[str, Any] | None = None) -> FleetBmcClient:
        """Connect and log in; ``known``: URIs discovered earlier for this BMC (updated
        in place). Raises RedfishError."""
        base = BmcClient.connect(endpoint)
        client = cls(base.endpoint, base._root)
        client.known = known if known is not None else {}
        return client

    def power_state(self) -> PowerState:
        """The host's PowerState, from one read of the system (cheaper than inventory)."""
        return self.health().power_state

    def health(self) -> SystemFacts:
        """Model, power state and Status.Health of the host: one read of the system."""
        return systems.facts_of(self._host_doc())


def identity_change(before: dict[str, str] | None, now: dict[str, str]) -> str | None:
    """Why a BMC that answers ``now`` is not the one read ``before`` (at inventory), or
    None when every field both offer is unchanged. Nothing to compare counts as a change:
    the BMC cannot be shown to be the same."""
    was = before or {}
    common = sorted(set(was) & set(now))
    if not common:
        return "its identity (service root UUID, Manager FirmwareVersion) cannot be compared"
    changed = [f"{key} {was[key]!r} -> {now[key]!r}" for key in common if was[key] != now[key]]
    return "its " + ", ".join(changed) if changed else None


__all__ = ["FleetBmcClient", "RedfishError", "identity_change"]
