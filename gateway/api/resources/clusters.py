"""/api/clusters and /api/nodes: the managed clusters, their groups and nodes."""

from __future__ import annotations

from typing import Any

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.errors import ApiNotFoundError
from gateway.api.ports import ClusterView, NodeView
from gateway.api.resources.common import checked_id, page
from gateway.api.routing import Call, Resource
from gateway.api.schemas import NAME, page_of, ref
from gateway.api.validation import PAGE_QUERY

resource = Resource("clusters", "clusters")
nodes_resource = Resource("nodes", "nodes")


@resource.operation("GET", "/clusters", summary="List clusters with their groups",
                    role=Role.VIEWER, response=page_of("Cluster"), query=PAGE_QUERY)
def list_clusters(call: Call) -> Any:
    return page(api_context().require_operations().list_clusters(), call, ClusterView.to_json)


@resource.operation("GET", "/clusters/<name>", summary="Show one cluster", role=Role.VIEWER,
                    response=ref("Cluster"))
def get_cluster(call: Call, name: str) -> Any:
    checked_id("cluster", name)
    for cluster in api_context().require_operations().list_clusters():
        if cluster.name == name:
            return cluster.to_json()
    raise ApiNotFoundError(f"no cluster {name!r}")


@nodes_resource.operation("GET", "/nodes", summary="List nodes with model, versions and state",
                          role=Role.VIEWER, response=page_of("Node"),
                          query={**PAGE_QUERY, "cluster": NAME})
def list_nodes(call: Call) -> Any:
    nodes = api_context().require_operations().list_nodes(call.query.get("cluster"))
    return page(nodes, call, NodeView.to_json)


@nodes_resource.operation("GET", "/nodes/<node_id>", summary="Show one node",
                          role=Role.VIEWER, response=ref("Node"))
def get_node(call: Call, node_id: str) -> Any:
    return api_context().require_operations().get_node(checked_id("node", node_id)).to_json()
