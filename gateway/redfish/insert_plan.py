"""The InsertMedia payload a BMC's ``@Redfish.ActionInfo`` asks for, read before the
first attempt (DSP0266: an action's ActionInfo lists its parameters, which are
``Required`` and their ``AllowableValues``; docs/interop.md, "vmedia-insert-action-info").

What it decides: whether ``Inserted``/``WriteProtected`` go in the payload (sent when
either is required; left out when the BMC does not list them, as Supermicro-like BMCs
refuse them), and which transfer parameters to send (``TransferProtocolType`` from the
image URL's scheme, ``TransferMethod`` Stream) when they are required. A BMC whose
allowable values rule out what the gateway serves is refused by name before anything
is sent. Without an ActionInfo nothing is decided here: the payload is learnt from a
refusal (gateway.redfish.virtual_media).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway.redfish.errors import NotSupportedError

STREAM = "Stream"


@dataclass(frozen=True)
class InsertPlan:
    """``explicit``: send Inserted and WriteProtected (True), leave them out (False).
    ``required``: transfer parameters that must be sent -> their allowable values
    (empty: any). ``allowed``: allowable values of those listed but not required."""

    explicit: bool = False
    required: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    allowed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def extra_for(self, image_url: str) -> dict[str, str]:
        """The transfer parameters for ``image_url``; NotSupportedError when the
        ActionInfo's allowable values leave out what the gateway sends."""
        wanted = {"TransferProtocolType": image_url.split(":", 1)[0].upper(),
                  "TransferMethod": STREAM}
        extra: dict[str, str] = {}
        for name, value in wanted.items():
            allowed = self.required.get(name) or self.allowed.get(name) or ()
            if allowed and value not in allowed:
                raise NotSupportedError(
                    f"the virtual CD's InsertMedia allows {name} {', '.join(allowed)} "
                    f"(its ActionInfo), not {value}: MSC cannot load the update CD")
            if name in self.required:
                extra[name] = value
        return extra


NO_PLAN = InsertPlan()


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def insert_plan(info: Mapping[str, Any] | None) -> InsertPlan:
    """The plan an ActionInfo resource describes (NO_PLAN for None or no Parameters)."""
    parameters = {str(p["Name"]): p for p in (info or {}).get("Parameters") or []
                  if isinstance(p, dict) and isinstance(p.get("Name"), str)}
    if not parameters:
        return NO_PLAN
    flags = [parameters.get(name) for name in ("Inserted", "WriteProtected")]
    explicit = any(p is not None and p.get("Required") is True for p in flags)
    required: dict[str, tuple[str, ...]] = {}
    allowed: dict[str, tuple[str, ...]] = {}
    for name in ("TransferProtocolType", "TransferMethod"):
        found = parameters.get(name)
        if found is None:
            continue
        values = _strings(found.get("AllowableValues"))
        if found.get("Required") is True:
            required[name] = values
        elif values:
            allowed[name] = values
    return InsertPlan(explicit, MappingProxyType(required), MappingProxyType(allowed))
