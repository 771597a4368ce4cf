"""Builders of Redfish documents and of the routes that serve them.

Every resource starts with the same identity (@odata.id, @odata.type, Id, Name) and links
to others the same way; the blueprints say only what is particular to each resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import Bmc
from emulator.errors import RedfishError
from emulator.redfish.common import (
    F,
    check_action,
    conflict_when_busy,
    json_response,
    read_json,
    requires,
)

OK_STATUS = {"State": "Enabled", "Health": "OK"}


def collection(uri: str, odata_type: str, name: str, members: Iterable[str]) -> dict[str, Any]:
    """A Redfish resource collection document for member URIs."""
    links = [{"@odata.id": member} for member in members]
    return {
        "@odata.id": uri,
        "@odata.type": f"#{odata_type}.{odata_type}",
        "Name": name,
        "Members@odata.count": len(links),
        "Members": links,
    }


def serve_collection(blueprint: Blueprint, uri: str, odata_type: str, name: str,
                     members: Callable[[], Iterable[str]]) -> None:
    """GET ``uri``: the collection of the member URIs ``members()`` lists at that moment."""
    blueprint.add_url_rule(
        uri, odata_type, lambda: json_response(collection(uri, odata_type, name, members())),
        methods=["GET"])


def ref(uri: str) -> dict[str, str]:
    """A navigation link: the JSON object that points at another resource."""
    return {"@odata.id": uri}


def refs(base: str, *names: str) -> dict[str, dict[str, str]]:
    """Links to sub-resources named after their path segment below ``base``."""
    return {name: ref(f"{base}/{name}") for name in names}


def host_identity(current: Bmc) -> dict[str, str]:
    """Who made the host and which one it is: the same on its System and its Chassis."""
    return {"Manufacturer": current.manufacturer, "Model": current.model,
            "SerialNumber": current.serial}


def resource(uri: str, odata_type: str, resource_id: str, name: str, /,
             **properties: Any) -> dict[str, Any]:
    """A Redfish resource document: its identity (@odata.id, @odata.type, Id, Name) first,
    then ``properties`` (Redfish property names are identifiers, so they pass as keywords)."""
    return {"@odata.id": uri, "@odata.type": odata_type, "Id": resource_id, "Name": name,
            **properties}


def action_target(base: str, name: str) -> str:
    """Where the action ``name`` of the resource at ``base`` is POSTed (DSP0266 Actions)."""
    return f"{base}/Actions/{name}"


def action(base: str, name: str, /, **parameters: Any) -> dict[str, Any]:
    """One entry of a resource's Actions: ``#name`` with its target below ``base``, plus any
    annotations (pass those whose names are not identifiers with ``**{...}``)."""
    return {f"#{name}": {"target": action_target(base, name), **parameters}}


def post_action(blueprint: Blueprint, base: str, name: str,
                privilege: Privilege) -> Callable[[F], F]:
    """Register the decorated view for POST to the action's target, needing ``privilege``:
    the route and the advertised target come from one place."""

    def register(view: F) -> F:
        marked = requires(privilege)(view)
        blueprint.add_url_rule(action_target(base, name), view.__name__, marked,
                               methods=["POST"])
        return marked

    return register


def reset_action(blueprint: Blueprint, base: str, name: str, reset_types: Iterable[str],
                 privilege: Privilege, perform: Callable[[str], None]) -> dict[str, Any]:
    """A Reset action (ComputerSystem.Reset, Manager.Reset), the resource's only action:
    POST checks ResetType against ``reset_types`` and hands it to ``perform`` (a busy BMC
    answers 409), any other action is ActionNotSupported; returns the Actions entry that
    advertises it."""
    allowed = tuple(reset_types)
    refuse_unknown_actions(blueprint, base, privilege)

    @post_action(blueprint, base, name, privilege)
    def reset() -> Response:
        document = read_json()
        check_action(name, document, {"ResetType": str}, choices={"ResetType": allowed},
                     required=["ResetType"])
        with conflict_when_busy():
            perform(document["ResetType"])
        return json_response(None, 204)

    return action(base, name, **{"ResetType@Redfish.AllowableValues": list(allowed)})


def serve(blueprint: Blueprint, uri: str, build: Callable[[], Mapping[str, Any]],
          update: Callable[[dict[str, Any]], None] | None = None,
          privilege: Privilege = Privilege.CONFIGURE_COMPONENTS) -> None:
    """GET ``uri`` answers the document ``build`` makes.

    With ``update``, PATCH ``uri`` (needing ``privilege``) hands the request body to it, which
    validates and applies it or raises a RedfishError, and answers with ``build`` again: a
    client reads back what it wrote, as DSP0266 asks of a PATCH that answers 200.
    """
    blueprint.add_url_rule(uri, build.__name__, lambda: json_response(build()), methods=["GET"])
    if update is None:
        return

    @requires(privilege)
    def patch() -> Response:
        update(read_json())
        return json_response(build())

    blueprint.add_url_rule(uri, f"patch_{build.__name__}", patch, methods=["PATCH"])


def refuse_unknown_actions(blueprint: Blueprint, base: str, privilege: Privilege) -> None:
    """POST ``base``/Actions/<anything else>: 400 ActionNotSupported naming it.

    The view needs the privilege the resource's real actions need, so an unprivileged
    client learns nothing about which actions exist."""

    @requires(privilege)
    def unknown_action(name: str, **_route: str) -> Response:
        raise RedfishError(400, "ActionNotSupported", name)

    blueprint.add_url_rule(action_target(base, "<path:name>"), "unknown_action", unknown_action,
                           methods=["POST"])
