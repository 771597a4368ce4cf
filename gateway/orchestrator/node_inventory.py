"""A node's inventory as the steps read it: cheap when nothing changed (stored
capabilities, remembered URIs), read in full from the service root when the BMC may
have changed shape (docs/interop.md, "reshaped-by-bmc-update")."""

from __future__ import annotations

from typing import Any

from gateway.domain import FirmwareComponent, NodeInventory, UpdateCapabilities
from gateway.orchestrator.context import StepContext
from gateway.redfish.errors import ResourceMissingError
from gateway.store.campaign_records import ManagedNode


def quick_inventory(ctx: StepContext, versions: dict[str, str] | None = None,
                    known: ManagedNode | None = None) -> NodeInventory:
    """A fresh inventory of the node. Capabilities come from the stored inventory when
    there is one (they do not change during an update): one read of the system and one
    per firmware component instead of walking managers, media and the UpdateService.
    ``versions``: component versions the caller has just read (not read again);
    ``known``: the stored inventory if the caller has just read it."""
    known = known or ctx.known_node()
    client = ctx.client()
    caps = capabilities_of(known)
    if known is None or caps is None or not known.model or ctx.clients.capabilities_stale(
            ctx.node):
        # Nothing stored, or the BMC may have changed shape since (client_pool): all of it.
        return full_inventory(ctx)
    facts = client.health()
    if versions is None:
        versions = client.component_versions()
        if known.firmware and versions != dict(known.firmware):
            # Changed since it was stored, by someone else (the gateway changes versions
            # only after PRECHECK): its firmware may have changed its shape too.
            ctx.clients.rediscover(ctx.node, "its versions differ from its stored inventory")
            return full_inventory(ctx)
    return NodeInventory(
        system_id=facts.system_id, model=facts.model, serial=facts.serial,
        manufacturer=facts.manufacturer, power_state=facts.power_state, health=facts.health,
        firmware=tuple(FirmwareComponent(component, version) for component, version
                       in sorted(versions.items())),
        capabilities=caps)


def full_inventory(ctx: StepContext) -> NodeInventory:
    """Everything read from the BMC (capabilities too): they are current from now on."""
    found = ctx.client().inventory()
    ctx.clients.capabilities_read(ctx.node)
    return found


def stale_read(ctx: StepContext) -> NodeInventory | None:
    """For a node discovered again whose capabilities are not read yet: its full
    inventory, stored. None otherwise, or when a FirmwareInventory member vanished
    while it was read (the caller's component_versions lists them again)."""
    if not ctx.clients.capabilities_stale(ctx.node):
        return None
    try:
        inventory = full_inventory(ctx)
    except ResourceMissingError:
        return None
    ctx.observe(inventory)
    return inventory


def capabilities_of(known: ManagedNode | None) -> UpdateCapabilities | None:
    """The update capabilities of a stored inventory (None when it has none)."""
    if known is None or not known.capabilities:
        return None
    caps: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                            for key, value in known.capabilities.items()}
    return UpdateCapabilities(**caps)
