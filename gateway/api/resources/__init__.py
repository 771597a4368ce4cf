"""One module per API resource; ALL_RESOURCES is registered by the app factory."""

from gateway.api.resources import (
    admin,
    alerts,
    bmc_import,
    campaigns,
    clusters,
    dashboard,
    gateways,
    images,
    refusals,
    reports,
    system,
)
from gateway.api.routing import Resource

ALL_RESOURCES: tuple[Resource, ...] = (
    system.resource, alerts.resource, images.resource, clusters.resource,
    clusters.nodes_resource, campaigns.resource, reports.resource, admin.bmcs, admin.tokens,
    admin.audit, dashboard.resource, refusals.resource, gateways.resource,
    bmc_import.resource,
)
