"""AWS node pools: one EC2 instance per node, spread round-robin over the zones' private subnets."""

from __future__ import annotations

import base64
import functools
import gzip
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from ...config.errors import ConfigRunError
from ...topology import NodeGroup, Role, zone_slot
from ..contract import Node, NodePool
from .config import AwsSpec, kvm_capability
from .network import AwsNetwork, cluster_tag

EC2_MAX_USER_DATA = 16 * 1024
"""EC2 takes at most 16 KB of user data before base64 encoding (EC2 user guide, "Work with instance user data")."""
NODE_CREATION_INPUTS = ["ami", "keyName", "subnetId", "userDataBase64"]
"""Instance inputs that only matter when a node is created."""


def compressed_user_data(group: NodeGroup, node: str, cloud_config: str) -> str:
    """The cloud-config gzip-compressed and base64-encoded, as EC2 takes binary user data; cloud-init
    unpacks gzip user data itself (cloudinit/user_data.py, convert_string, cloud-init 25.1.4).
    ``mtime=0`` keeps it the same from one run to the next. Over EC2's limit: one line naming the pool."""
    packed = gzip.compress(cloud_config.encode(), mtime=0)
    if len(packed) > EC2_MAX_USER_DATA:
        where = "cluster.controlPlane: " if group.role == "control-plane" else f"cluster.pools: pool {group.name!r}: "
        remedy = "list fewer mirrors in cluster.registryMirrors"
        if group.role == "control-plane":
            remedy += ", or use cluster.pki.keyAlgorithm: ecdsa-p256 (smaller keys)"
        # Raised in an apply: a RunError too, so that `pulumi up` stops on the line alone.
        raise ConfigRunError(
            [
                f"{where}node {node}'s cloud-config is {len(packed)} bytes gzip-compressed, over the "
                f"{EC2_MAX_USER_DATA} bytes of user data EC2 takes; {remedy}"
            ]
        )
    return base64.b64encode(packed).decode()


class AwsNodePool(NodePool):
    """One EC2 instance per node: encrypted gp3 root volume, IMDSv2 only with a hop limit of 1, and on a
    virtualization pool nested virtualization where the instance type needs it."""

    nodes: list[Node]
    """The pool's nodes, in index order."""

    def __init__(
        self,
        name: str,
        group: NodeGroup,
        user_data: Sequence[pulumi.Input[str]],
        spec: AwsSpec,
        network: AwsNetwork,
        image_id: str,
        instance_profiles: dict[Role, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:AwsNodePool", name, None, opts, group=group, user_data=user_data)
        instance_type = spec.instance_types[group.size]
        # Bare metal exposes VT-x as it is; other types need the CPU option (config.py refuses the rest).
        nested = group.virtualization and kvm_capability(instance_type) == "nested"
        self.nodes = []
        for index, node_name in enumerate(group.node_names):
            # A node's zone depends on its index alone: control-plane nodes land in distinct zones,
            # virtualization nodes two by two.
            slot = zone_slot(group, index, len(network.zones))
            # It carries the join token, and on control-plane nodes the cluster's keys.
            packed = pulumi.Output.secret(user_data[index]).apply(functools.partial(compressed_user_data, group, node_name))
            instance = aws.ec2.Instance(
                f"{name}-{index}",
                ami=image_id,
                instance_type=instance_type,
                subnet_id=network.private_subnet_ids[slot],
                vpc_security_group_ids=[network.security_group_ids[group.role]],
                iam_instance_profile=instance_profiles[group.role],
                key_name=spec.key_pair,
                user_data_base64=packed,
                root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                    volume_type="gp3", volume_size=spec.root_volume_size, encrypted=True, delete_on_termination=True
                ),
                # Tokens only, and answers that do not survive a hop: pods (one hop behind the node)
                # never reach the metadata service, which serves the user data.
                metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                    http_endpoint="enabled",
                    http_tokens="required",
                    http_put_response_hop_limit=1,
                    instance_metadata_tags="disabled",
                ),
                cpu_options=aws.ec2.InstanceCpuOptionsArgs(nested_virtualization="enabled") if nested else None,
                tags={
                    "Name": node_name,
                    cluster_tag(group.cluster): "owned",
                    "hybrid-infra-pool": group.name,
                    "hybrid-infra-role": group.role,
                },
                # These force a new instance when they change: a newer image under the pattern, an edited
                # zone list, a rotated join token. Ignoring them keeps such a change from replacing every
                # running node at once; new nodes get the current values, and `pulumi up --replace`
                # renews a node deliberately.
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=NODE_CREATION_INPUTS),
            )
            self.nodes.append(
                Node(
                    name=node_name,
                    pool=group.name,
                    role=group.role,
                    private_address=instance.private_ip,
                    fault_domain=network.zones[slot],
                    machine=instance,
                )
            )
        self.register_outputs({"nodes": [{"name": n.name, "address": n.private_address} for n in self.nodes]})

