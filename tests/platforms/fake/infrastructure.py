from __future__ import annotations

from collections.abc import Sequence

import pulumi

from hybrid_infra.addons.storage import DefaultStorageClass
from hybrid_infra.config.addons import AddonsSpec
from hybrid_infra.config.cluster import ClusterSpec
from hybrid_infra.platforms.contract import ApiEndpoint, Infrastructure, Node, NodePool
from hybrid_infra.topology import NodeGroup, PlatformHints

from .config import FakeSpec


class FakeEndpoint(ApiEndpoint):
    def __init__(self, name: str, network: pulumi.Resource, opts: pulumi.ResourceOptions):
        super().__init__("hybrid-infra:index:FakeEndpoint", name, None, opts)
        vip = pulumi.CustomResource("fake:index:Address", f"{name}-vip", {"network": network.id, "address": None}, pulumi.ResourceOptions(parent=self))
        self.private_address = self.public_address = self.virtual_ip = vip.address  # type: ignore[attr-defined]
        self.register_outputs({"privateAddress": self.private_address})

    def add_members(self, nodes: Sequence[Node]) -> None:
        """kube-vip on the control plane announces the address: nothing to register."""


class FakeNodePool(NodePool):
    def __init__(self, name: str, group: NodeGroup, user_data: Sequence[pulumi.Input[str]], network: pulumi.Resource, opts: pulumi.ResourceOptions):
        super().__init__("hybrid-infra:index:FakeNodePool", name, None, opts, group=group, user_data=user_data)
        self.nodes = []
        for index, node_name in enumerate(group.node_names):
            machine = pulumi.CustomResource(
                "fake:index:Machine", f"{name}-{index}",
                {"name": node_name, "network": network.id, "userData": user_data[index], "address": None},
                pulumi.ResourceOptions(parent=self, ignore_changes=["userData"]),
            )
            self.nodes.append(Node(node_name, group.name, group.role, machine.address, "default", machine))  # type: ignore[attr-defined]
        self.register_outputs({"nodes": [node.name for node in self.nodes]})


class FakeInfrastructure(Infrastructure[FakeSpec]):
    platform = "fake"
    type_token = "hybrid-infra:index:FakeInfrastructure"

    def __init__(self, name: str, cluster: ClusterSpec, section: FakeSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, cluster, section, opts)
        self.hints = PlatformHints(cloud_provider_external=False, max_user_data=65536)
        self.network = pulumi.CustomResource("fake:index:Network", f"{name}-network", {"cidr": cluster.network.node_cidr}, pulumi.ResourceOptions(parent=self))
        self.register_outputs({})

    def create_endpoint(self, name: str) -> ApiEndpoint:
        return FakeEndpoint(name, self.network, pulumi.ResourceOptions(parent=self))

    def create_node_pool(self, name: str, group: NodeGroup, user_data: Sequence[pulumi.Input[str]], endpoint: ApiEndpoint) -> NodePool:
        return FakeNodePool(name, group, user_data, self.network, pulumi.ResourceOptions(parent=self))

    def create_cloud_provider(self, name: str, addons: AddonsSpec, opts: pulumi.ResourceOptions) -> pulumi.ComponentResource:
        return DefaultStorageClass(name, addons.storage_class, "csi.fake.example.com", {}, opts)


INFRASTRUCTURE = FakeInfrastructure
