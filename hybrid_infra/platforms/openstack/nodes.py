"""OpenStack node pools: one server group per pool and, per node, a port and an instance booting from a volume."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_openstack as openstack

from ...outputs import computed
from ...topology import NodeGroup, zone_slot
from ..contract import ApiEndpoint, Node, NodePool
from .config import OpenStackSpec
from .network import OpenStackNetwork

NODE_CREATION_INPUTS = ["userData", "blockDevices", "availabilityZone", "keyPair"]
"""Instance inputs that only matter when a node is created."""


class OpenStackNodePool(NodePool):
    """One server group and, per node, a port and an instance booting from a volume."""

    nodes: list[Node]
    """The pool's nodes, in index order."""

    def __init__(
        self,
        name: str,
        group: NodeGroup,
        user_data: Sequence[pulumi.Input[str]],
        spec: OpenStackSpec,
        network: OpenStackNetwork,
        image_id: str,
        endpoint: ApiEndpoint,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:OpenStackNodePool", name, None, opts, group=group, user_data=user_data)
        child = pulumi.ResourceOptions(parent=self)
        server_group = openstack.compute.ServerGroup(
            f"{name}-server-group",
            name=f"{group.cluster}-{group.name}",
            # etcd members must never share a hypervisor; workers spread when capacity allows.
            policies="anti-affinity" if group.role == "control-plane" else "soft-anti-affinity",
            opts=child,
        )
        address_pairs = (
            [openstack.networking.PortAllowedAddressPairArgs(ip_address=endpoint.virtual_ip)]
            if group.role == "control-plane" and endpoint.virtual_ip is not None
            else None
        )
        metadata = {"hybrid-infra-cluster": group.cluster, "hybrid-infra-pool": group.name, "hybrid-infra-role": group.role}
        self.nodes = []
        for index, node_name in enumerate(group.node_names):
            zones = spec.availability_zones
            zone = zones[zone_slot(group, index, len(zones))] if zones else None
            port = openstack.networking.Port(
                f"{name}-{index}-port",
                name=node_name,
                network_id=network.network_id,
                fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=network.subnet_id)],
                security_group_ids=[network.security_group_ids[group.role]],
                allowed_address_pairs=address_pairs,
                opts=child,
            )
            instance = openstack.compute.Instance(
                f"{name}-{index}",
                name=node_name,
                flavor_name=spec.flavors[group.size],
                key_pair=spec.key_pair,
                availability_zone=zone,
                metadata=metadata,
                user_data=user_data[index],
                networks=[openstack.compute.InstanceNetworkArgs(port=port.id)],
                block_devices=[
                    openstack.compute.InstanceBlockDeviceArgs(
                        uuid=image_id,
                        source_type="image",
                        destination_type="volume",
                        volume_size=spec.boot_volume_size,
                        volume_type=spec.boot_volume_type,
                        boot_index=0,
                        delete_on_termination=True,
                    )
                ],
                scheduler_hints=[openstack.compute.InstanceSchedulerHintArgs(group=server_group.id)],
                # These force a new instance when they change: a new image under the same name, an
                # edited zone list, a rotated join token. Ignoring them keeps such a change from
                # replacing every running node at once; new nodes get the current values, and
                # `pulumi up --replace` renews a node deliberately.
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=NODE_CREATION_INPUTS),
            )
            self.nodes.append(
                Node(
                    name=node_name,
                    pool=group.name,
                    role=group.role,
                    private_address=computed(port.all_fixed_ips)[0],
                    fault_domain=zone or "default",
                    machine=instance,
                )
            )
        self.register_outputs({"nodes": [{"name": n.name, "address": n.private_address} for n in self.nodes]})

