"""Topology nodes as the emulator's cluster configuration.

One emulated BMC per topology node, in file order, with the node's model,
starting firmware and faults; the topology's timings become the cluster's.
The matrix gives one BMC per (model, starting point, delivery) combination.
"""

from __future__ import annotations

from typing import Any

from emulator.config import ClusterConfig, NodeSpec
from emulator.faults import make_fault
from lab.topology import Combination, Matrix, Node, Topology


def emulator_node(topology: Topology, node: Node) -> NodeSpec:
    """The emulator's spec for one topology node (faults already validated at load)."""
    faults = tuple(make_fault(fault.kind, fault.params) for fault in topology.faults_for(node.name))
    return NodeSpec(model=node.model, firmware=dict(node.firmware), faults=faults,
                    personality=node.personality)


def emulator_config(topology: Topology, **settings: Any) -> ClusterConfig:
    """A ClusterConfig for the whole topology; `settings` set the other fields
    (trusted_keys, audit_log, base_port, ...). BMC i is `topology.nodes[i]`."""
    return ClusterConfig(
        nodes=[emulator_node(topology, node) for node in topology.nodes],
        models=topology.models or ("FF-1U-R450",),
        flash_seconds=topology.emulator.flash_seconds,
        reset_seconds=topology.emulator.reset_seconds,
        bmc_restart_seconds=topology.emulator.bmc_restart_seconds,
        **settings,
    )


def matrix_nodes(matrix: Matrix) -> list[tuple[Combination, NodeSpec]]:
    """One BMC per matrix combination, at that combination's starting firmware."""
    return [(combination, NodeSpec(model=combination.model,
                                   firmware=dict(combination.starting.firmware)))
            for combination in matrix.combinations()]
