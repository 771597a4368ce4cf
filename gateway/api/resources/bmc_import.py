"""POST /api/bmcs:import: the API's `fleetflash bmcs import` (docs/api.md).

The inventory travels as text in a JSON body. The answer lists what was (or, for a
dry run or a refused import, would be) added, updated and left unchanged, and every
refused row with its place in the file. A refused all-or-nothing import answers 422
and changes nothing. Imported BMCs join the running orchestrator at once (`joined`);
other gateways sharing the database pick them up within a second or two.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.errors import BadRequestError, UnavailableError
from gateway.api.routing import Call, Resource
from gateway.onboarding.errors import OnboardingError
from gateway.onboarding.importers import FORMATS, HostVars, ImportDefaults
from gateway.onboarding.registry import ImportOutcome, import_inventory
from gateway.store.bmc_registry import BmcRegistry

resource = Resource("bmc_import", "bmcs")
_TEXT = {"type": "string", "maxLength": 128}
IMPORT_BODY = {
    "type": "object", "additionalProperties": False, "required": ["format", "content"],
    "properties": {
        "format": {"type": "string", "enum": list(FORMATS)},
        "content": {"type": "string", "maxLength": 16 * 1024 * 1024},
        "filename": {"type": "string", "maxLength": 256, "default": "upload"},
        "dry_run": {"type": "boolean", "default": False},
        "partial": {"type": "boolean", "default": False},
        "cluster": _TEXT, "group": _TEXT, "username": _TEXT, "tls": _TEXT,
        "vars": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
IMPORT_RESPONSE = {
    "type": "object",
    "properties": {
        "applied": {"type": "boolean"},
        "added": {"type": "array", "items": {"type": "string"}},
        "updated": {"type": "array", "items": {"type": "string"}},
        "unchanged": {"type": "array", "items": {"type": "string"}},
        "problems": {"type": "array", "items": {"type": "object", "properties": {
            "where": {"type": "string"}, "message": {"type": "string"}}}},
        "joined": {"type": "array", "items": {"type": "string"},
                   "description": "nodes now in this gateway's running fleet"},
    },
}


def outcome_json(outcome: ImportOutcome) -> dict[str, Any]:
    plan = outcome.plan
    return {"applied": outcome.applied, "added": [str(e["name"]) for e in plan.added],
            "updated": [str(after["name"]) for _b, after in plan.updated],
            "unchanged": plan.unchanged,
            "problems": [{"where": p.where, "message": p.message} for p in plan.problems]}


@resource.operation("POST", "/bmcs:import", summary="Import BMCs from an inventory "
                    "(CSV, Ansible YAML/INI, NetBox JSON) into the registry",
                    role=Role.ADMIN, body=IMPORT_BODY, response=IMPORT_RESPONSE,
                    audit="bmc.import", name="import_bmcs",
                    also={422: ("rows were refused and, without partial, nothing was "
                                "imported; `problems` says where and why", IMPORT_RESPONSE)})
def import_bmcs(call: Call) -> Any:
    context = api_context()
    if context.config is None:
        raise UnavailableError("the BMC registry needs the gateway's configuration")
    body = call.body
    try:
        defaults = ImportDefaults(
            cluster=body.get("cluster", ""), group=body.get("group", ""),
            username=body.get("username", ""), tls=body.get("tls", ""),
            variables=HostVars.with_overrides(body.get("vars", {})))
        outcome = import_inventory(
            context.config, BmcRegistry(context.store.engine), body.get("filename", "upload"),
            body["content"].encode("utf-8"), body["format"], defaults,
            dry_run=body.get("dry_run", False), partial=body.get("partial", False))
    except OnboardingError as exc:
        raise BadRequestError(str(exc), field="content") from exc
    result = outcome_json(outcome)
    joined = context.join_registered() if outcome.applied and context.join_registered else []
    result["joined"] = joined
    if outcome.plan.problems and not outcome.applied and not body.get("dry_run", False):
        response = jsonify(result)
        response.status_code = 422
        return response
    return result


