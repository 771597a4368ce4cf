"""/redfish/v1/Systems: the host's facts, its one-time boot override and resets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sushy
from sushy import exceptions as sushy_exc
from sushy.resources.system.system import System

from gateway.domain.inventory import PowerState, SystemFacts
from gateway.redfish.common import health_from
from gateway.redfish.endpoint import ALL_SYSTEMS, system_key
from gateway.redfish.errors import ConfigurationError, NotSupportedError, translated

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootOverride:
    """The pending boot override: target ("None", "Cd", ...) and enabled ("Disabled", "Once")."""

    target: str
    enabled: str

    @property
    def pending(self) -> bool:
        return self.enabled != "Disabled" and self.target not in ("None", "")


def system_paths(root: sushy.Sushy) -> list[str]:
    """The members of the Systems collection, sorted."""
    with translated("reading Systems"):
        return sorted(root.get_system_collection().members_identities)


def choose_system(members: list[str], selector: str | None) -> str:
    """The member ``selector`` names (a path, or an id matched against the last path
    segment), or the only member when none is named. ConfigurationError when a root
    serves several systems and none is named, or the named one is not there (never
    silently the first); NotSupportedError when it serves none."""
    if not members:
        raise NotSupportedError("the BMC lists no ComputerSystem")
    listed = ", ".join(members)
    if selector == ALL_SYSTEMS:
        raise ConfigurationError(
            f"systems = \"all\" was not expanded into one node per system (the BMC did not "
            f"answer when the gateway started); it serves: {listed}")
    if selector is None:
        if len(members) > 1:
            raise ConfigurationError(
                f"the BMC serves {len(members)} systems ({listed}): name one with "
                f"system = \"<id or path>\" or register each with systems = \"all\"")
        return members[0]
    wanted = system_key(selector)
    for member in members:
        if (member.rstrip("/") == selector.rstrip("/") if selector.startswith("/")
                else system_key(member) == wanted):
            return member
    raise ConfigurationError(f"the BMC serves no system {selector!r} (it serves: {listed})")


def find_system(root: sushy.Sushy, selector: str | None = None) -> System:
    """The ComputerSystem ``selector`` names (see choose_system)."""
    path = choose_system(system_paths(root), selector)
    with translated("reading the system"):
        return root.get_system(path)


def facts_of(doc: dict[str, Any]) -> SystemFacts:
    """The host's facts from a ComputerSystem document (a plain JSON read is enough:
    building sushy's System parses every field of it, which a read of facts throws away)."""
    power = doc.get("PowerState")
    return SystemFacts(
        system_id=str(doc.get("Id", "")),
        model=str(doc.get("Model") or ""),
        serial=str(doc.get("SerialNumber") or ""),
        manufacturer=str(doc.get("Manufacturer") or ""),
        power_state=PowerState(power) if power in {p.value for p in PowerState}
        else PowerState.UNKNOWN,
        health=health_from(doc.get("Status")),
    )


def boot_override_of(doc: dict[str, Any]) -> BootOverride:
    """The pending override in a ComputerSystem document."""
    boot = doc.get("Boot") or {}
    return BootOverride(str(boot.get("BootSourceOverrideTarget") or "None"),
                        str(boot.get("BootSourceOverrideEnabled") or "Disabled"))


# The targets that boot the virtual CD: Cd, or UsbCd where the BMC presents its virtual
# media as a USB CD and allows only that (Supermicro; sushy commit 595ffbc).
CD_TARGETS = frozenset({"Cd", "UsbCd"})


def cd_target(system: System) -> sushy.BootSource:
    """Cd, or UsbCd when the BMC's allowable targets have UsbCd and not Cd."""
    allowed = {str(v.value) for v in system.get_allowed_system_boot_source_values()}
    if "Cd" not in allowed and "UsbCd" in allowed:
        return sushy.BootSource.USB_CD
    return sushy.BootSource.CD


def set_boot_once_cd(system: System) -> None:
    """PATCH Boot: BootSourceOverrideTarget Cd (UsbCd, see cd_target), Enabled Once."""
    with translated("setting the boot override to CD once"):
        _patch_boot(system, cd_target(system), sushy.BootSourceOverrideEnabled.ONCE)


def clear_boot_override(system: System) -> None:
    """Cancel any pending override (after a failure, or when resuming after a crash)."""
    with translated("clearing the boot override"):
        _patch_boot(system, sushy.BootSource.NONE, sushy.BootSourceOverrideEnabled.DISABLED)


def _patch_boot(system: System, target: sushy.BootSource,
                enabled: sushy.BootSourceOverrideEnabled) -> None:
    """sushy's PATCH sends If-Match with the ETag of the system's last read; a BMC that
    requires a current one answers 412 when that read is old: read again, once, and
    resend (sushy's own retries drop or weaken the ETag, which such a BMC refuses)."""
    try:
        system.set_system_boot_options(target=target, enabled=enabled)
    except sushy_exc.HTTPError as exc:
        if exc.status_code != 412:
            raise
        LOG.info("%s: 412 on PATCH Boot; reading the system again for its ETag",
                 system.path)
        system.refresh(force=True)
        system.set_system_boot_options(target=target, enabled=enabled)


def reset_host(system: System, reset_type: str | None = None,
               doc: dict[str, Any] | None = None) -> str:
    """Reset the host: ``reset_type`` or, by default, ForceRestart when it is on and On
    when it is off (its PowerState from ``doc``, the system just read, else from
    ``system``). Returns the ResetType sent; NotSupportedError if not allowed."""
    with translated("resetting the host"):
        power = (doc if doc is not None else system.json).get("PowerState")
        wanted = reset_type or ("On" if power == "Off" else "ForceRestart")
        allowed = {v.value for v in system.get_allowed_reset_system_values()}
        if wanted not in allowed:
            raise NotSupportedError(f"the BMC does not allow ResetType {wanted} "
                                    f"(it allows {sorted(allowed)})")
        system.reset_system(sushy.ResetType(wanted))
        return wanted
