"""KubernetesCluster: API endpoint and node pools on any platform, bootstrapped without SSH."""

from __future__ import annotations

import pulumi

from .bootstrap.cloudinit import node_identities, render_cloud_config
from .config import CONTROL_PLANE_POOL, ClusterSpec
from .platforms.base import Node, NodeGroup, NodePool, Platform


class KubernetesCluster(pulumi.ComponentResource):
    """Creates the endpoint first, renders each node's cloud-config, then every node at once."""

    endpoint: pulumi.Output[str]
    """Address clients use to reach the Kubernetes API."""
    nodes: pulumi.Output[list[dict[str, str]]]
    """Every node: name, pool, role, private address and fault domain."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        platform: Platform,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:KubernetesCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        endpoint = platform.create_endpoint(f"{name}-endpoint", child)
        groups = [NodeGroup.control_plane(cluster)] + [NodeGroup.workers(cluster, pool) for pool in cluster.pools]
        self.pools: dict[str, NodePool] = {}
        for group in groups:
            user_data = [render_cloud_config(node) for node in node_identities(group)]
            self.pools[group.name] = platform.create_node_pool(f"{name}-{group.name}", group, user_data, endpoint, child)
        endpoint.add_members(self.pools[CONTROL_PLANE_POOL].nodes)

        self.node_list: list[Node] = [node for pool in self.pools.values() for node in pool.nodes]
        self.endpoint = pulumi.Output.from_input(endpoint.public_address)
        self.nodes = pulumi.Output.all(*[node.private_address for node in self.node_list]).apply(
            lambda addresses: [
                {
                    "name": node.name,
                    "pool": node.pool,
                    "role": node.role,
                    "address": address,
                    "faultDomain": node.fault_domain,
                }
                for node, address in zip(self.node_list, addresses, strict=True)
            ]
        )
        self.register_outputs({"endpoint": self.endpoint, "nodes": self.nodes})
