"""A BMC's firmware inventory: installed versions and versions staged for a reset.

Every change is written through to the host backend (libvirt domain
metadata) so a persistent backend keeps versions across emulator restarts,
and recorded in the audit log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from emulator.audit import AuditLog
from emulator.backends.base import FirmwareRecord, HostBackend


class FirmwareState:
    """Installed and pending component versions of one BMC; thread-safe.

    on_change(component): called after a component's installed version changed.
    """

    def __init__(
        self,
        bmc_id: str,
        host: str,
        backend: HostBackend,
        audit: AuditLog,
        starting: dict[str, str],
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.bmc_id = bmc_id
        self._host = host
        self._backend = backend
        self._audit = audit
        self._lock = threading.Lock()
        self.on_change = on_change
        stored = backend.read_firmware(host)
        if stored is not None and stored.installed:
            # The host remembers its firmware: an emulator restart keeps versions.
            self._installed = dict(stored.installed)
            self._pending = dict(stored.pending)
        else:
            self._installed = dict(starting)
            self._pending = {}
            self._persist()

    def installed(self) -> dict[str, str]:
        with self._lock:
            return dict(self._installed)

    def pending(self) -> dict[str, str]:
        with self._lock:
            return dict(self._pending)

    def version(self, component: str) -> str | None:
        return self._installed.get(component)

    def install(self, component: str, version: str, **audit_fields: object) -> None:
        """Make ``version`` the installed one now and log flash_end."""
        with self._lock:
            old = self._installed.get(component)
            self._installed[component] = version
            self._pending.pop(component, None)
            self._persist()
        self._audit.record(
            self.bmc_id, "flash_end", component=component, from_version=old,
            to_version=version, **audit_fields,
        )
        if self.on_change is not None:
            self.on_change(component)

    def stage(self, component: str, version: str) -> None:
        """Remember a flashed version that activates at the next host reset."""
        with self._lock:
            self._pending[component] = version
            self._persist()

    def take_pending(self) -> dict[str, str]:
        """Remove and return everything staged (the caller activates or drops it)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._persist()
            return pending

    def _persist(self) -> None:
        self._backend.write_firmware(
            self._host, FirmwareRecord(dict(self._installed), dict(self._pending))
        )
