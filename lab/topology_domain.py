"""Topology clusters as the gateway's domain model sees them.

`lab up` registers the topology's nodes with the gateway; this is the one
place that maps the topology's cluster section onto
`gateway.domain.cluster.Cluster`, so a topology that loads is one the
gateway's planner accepts.
"""

from __future__ import annotations

from gateway.domain.cluster import Cluster as DomainCluster
from gateway.domain.cluster import NodeSpec, RedundancyGroup
from gateway.domain.errors import InvalidClusterError
from lab.topology import Topology
from lab.topology_yaml import Problem, TopologyError


def domain_clusters(topology: Topology) -> tuple[DomainCluster, ...]:
    """One domain Cluster per topology cluster; node ids are the node names.

    Every QoS class of the topology is offered to every cluster. Raises
    TopologyError if the domain refuses a cluster (which the topology
    checks are meant to make impossible).
    """
    clusters = []
    for cluster in topology.clusters:
        try:
            clusters.append(DomainCluster(
                name=cluster.name,
                groups=tuple(RedundancyGroup(group.name, group.max_unavailable,
                                             group.min_available) for group in cluster.groups),
                nodes=tuple(NodeSpec(node.name, node.group, node.qos)
                            for node in topology.nodes if node.cluster == cluster.name),
                qos_classes=topology.qos_classes,
                failure_budget=cluster.failure_budget,
                autonomy=cluster.autonomy,
                max_concurrent=cluster.max_concurrent,
            ))
        except InvalidClusterError as exc:
            raise TopologyError([Problem(topology.source, 0, f"cluster {cluster.name}",
                                         str(exc))]) from exc
    return tuple(clusters)
