"""/api/campaigns: list, detail, start, and the operator actions.

approve / pause / resume / abort act on a campaign; retry / clear act on one
node of it. An action the campaign's or node's state does not allow is a 409
(the domain's IllegalTransitionError); every action is audited.
"""

from __future__ import annotations

from typing import Any

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.ports import CampaignView
from gateway.api.resources.common import checked_id, page
from gateway.api.routing import Call, Resource
from gateway.api.schemas import ACTION_BODY, NAME, REASON, SHA256, enum_of, page_of, ref
from gateway.api.validation import PAGE_QUERY
from gateway.domain import CampaignState

resource = Resource("campaigns", "campaigns")

START_BODY = {"type": "object", "additionalProperties": False,
              "required": ["image_sha256", "cluster"],
              "properties": {"image_sha256": SHA256, "cluster": NAME, "reason": REASON,
                             "allow_downgrade": {"type": "boolean", "description":
                                                 "Install versions older than the nodes' "
                                                 "too, where the policy allows it"}}}


def _summary(view: CampaignView) -> dict[str, Any]:
    data = view.to_json()
    data["waves"] = []  # lists stay small; the detail carries the waves
    return data


@resource.operation("GET", "/campaigns", summary="List campaigns, newest first",
                    role=Role.VIEWER, response=page_of("Campaign"),
                    query={**PAGE_QUERY, "state": enum_of(CampaignState)})
def list_campaigns(call: Call) -> Any:
    campaigns = api_context().require_operations().list_campaigns(call.query.get("state"))
    return page(campaigns, call, _summary)


@resource.operation("POST", "/campaigns", summary="Start a campaign for an image on a cluster",
                    role=Role.OPERATOR, body=START_BODY, response=ref("Campaign"),
                    status=201, audit="campaign.start", may_conflict=True)
def start_campaign(call: Call) -> Any:
    operations = api_context().require_operations()
    assert call.principal is not None
    view = operations.start_campaign(call.body["image_sha256"], call.body["cluster"],
                                     call.principal.name,
                                     bool(call.body.get("allow_downgrade", False)))
    return view.to_json()


@resource.operation("GET", "/campaigns/<campaign_id>",
                    summary="Show a campaign with its waves and each node's step",
                    role=Role.VIEWER, response=ref("Campaign"))
def get_campaign(call: Call, campaign_id: str) -> Any:
    operations = api_context().require_operations()
    return operations.get_campaign(checked_id("campaign", campaign_id)).to_json()


@resource.operation("GET", "/campaigns/<campaign_id>/timeline",
                    summary="Show a campaign's timeline: each node's steps over time, its "
                            "wave, and each group's allowance in use",
                    role=Role.VIEWER, response=ref("Timeline"))
def get_timeline(call: Call, campaign_id: str) -> Any:
    operations = api_context().require_operations()
    return operations.campaign_timeline(checked_id("campaign", campaign_id)).to_json()


def _campaign_action(action: str, summary: str) -> None:
    @resource.operation("POST", f"/campaigns/<campaign_id>/{action}", summary=summary,
                        role=Role.OPERATOR, body=ACTION_BODY, response=ref("Campaign"),
                        audit=f"campaign.{action}", may_conflict=True,
                        name=f"{action}_campaign")
    def act(call: Call, campaign_id: str) -> Any:
        assert call.principal is not None
        operations = api_context().require_operations()
        return operations.campaign_action(checked_id("campaign", campaign_id), action,
                                          call.principal.name).to_json()


def _node_action(action: str, summary: str) -> None:
    @resource.operation("POST", f"/campaigns/<campaign_id>/nodes/<node_id>/{action}",
                        summary=summary, role=Role.OPERATOR, body=ACTION_BODY,
                        response=ref("NodeProgress"), audit=f"node.{action}",
                        may_conflict=True, name=f"{action}_node")
    def act(call: Call, campaign_id: str, node_id: str) -> Any:
        assert call.principal is not None
        operations = api_context().require_operations()
        return operations.node_action(checked_id("campaign", campaign_id),
                                      checked_id("node", node_id), action,
                                      call.principal.name).to_json()


_campaign_action("approve", "Approve a campaign waiting for approval")
_campaign_action("pause", "Pause a campaign (nodes in flight finish safely)")
_campaign_action("resume", "Resume a paused campaign")
_campaign_action("abort", "Abort a campaign (nothing new starts)")
_node_action("retry", "Retry a quarantined or partial node, or release a held one")
_node_action("clear", "Clear a quarantined, partial or pending node (give it up)")
