"""/api/reports: per-node campaign outcomes and the per-cluster compliance view."""

from __future__ import annotations

from typing import Any

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.ports import ComplianceRow, NodeReportView
from gateway.api.resources.common import checked_id, page
from gateway.api.routing import Call, Resource
from gateway.api.schemas import NAME, page_of
from gateway.api.validation import PAGE_QUERY

resource = Resource("reports", "reports")


@resource.operation("GET", "/reports/campaigns/<campaign_id>",
                    summary="Report a campaign's outcome per node", role=Role.VIEWER,
                    response=page_of("NodeReport"), query=PAGE_QUERY)
def campaign_report(call: Call, campaign_id: str) -> Any:
    rows = api_context().require_operations().campaign_report(
        checked_id("campaign", campaign_id))
    return page(rows, call, NodeReportView.to_json)


@resource.operation("GET", "/reports/compliance",
                    summary="Report each node against the newest verified image",
                    role=Role.VIEWER, response=page_of("ComplianceRow"),
                    query={**PAGE_QUERY, "cluster": NAME})
def compliance(call: Call) -> Any:
    rows = api_context().require_operations().compliance(call.query.get("cluster"))
    return page(rows, call, ComplianceRow.to_json)
