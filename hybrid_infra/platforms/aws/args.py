"""The ``hybrid-infra:aws`` section as typed arguments of the component provider (no SDK).

The same keys as :mod:`.config`, which validates them; the provider's schema takes its types and
descriptions from here.
"""

# No `from __future__ import annotations`: the analyzer of Pulumi's component provider reads the
# annotations as objects (NotRequired among them).
from typing import NotRequired, TypedDict

from ...config.args import ChartSpec


class AwsNetworkSpec(TypedDict):
    """A VPC created with the node network as its CIDR, or an existing VPC and its subnets reused by ID."""

    private_subnets: NotRequired[list[str]]
    """A created VPC's private subnets, one per zone; default: cut from cluster.network.nodeCidr."""
    public_subnets: NotRequired[list[str]]
    """A created VPC's public subnets, one per zone."""
    existing_vpc_id: NotRequired[str]
    """ID of a VPC to reuse; omitted: one is created."""
    private_subnet_ids: NotRequired[list[str]]
    """The reused VPC's subnets for the nodes, one per zone."""
    public_subnet_ids: NotRequired[list[str]]
    """The reused VPC's public subnets, for a public API endpoint."""


class AwsImageSpec(TypedDict):
    """The image every node boots: the most recent of the owner's images whose name matches the pattern."""

    owner: NotRequired[str]
    """AWS account publishing the image; default: Canonical."""
    name_pattern: NotRequired[str]
    """Image name, * matching any characters; default: Ubuntu 24.04 server for x86_64."""


class AwsChartsSpec(TypedDict):
    """The cloud provider's charts at pinned versions."""

    cloud_controller_manager: NotRequired[ChartSpec]
    """aws-cloud-controller-manager."""
    ebs_csi_driver: NotRequired[ChartSpec]
    """aws-ebs-csi-driver."""


class AwsSpec(TypedDict):
    """AWS: VPC over availability zones, Network Load Balancer endpoint, EC2 nodes on EBS volumes (docs/platforms/aws.md)."""

    instance_types: dict[str, str]
    """Size name used by pools -> EC2 instance type."""
    availability_zones: NotRequired[list[str]]
    """Zones the nodes spread over; default: the first 3 the region offers."""
    network: NotRequired[AwsNetworkSpec]
    """The VPC and its subnets."""
    image: NotRequired[AwsImageSpec]
    """The image every node boots."""
    root_volume_size: NotRequired[int]
    """GiB of each node's encrypted gp3 root volume (20 to 16384; 50 by default)."""
    key_pair: NotRequired[str]
    """EC2 key pair for emergency access."""
    ssh_allowed_cidrs: NotRequired[list[str]]
    """Networks that may reach the nodes by SSH; none by default."""
    charts: NotRequired[AwsChartsSpec]
    """The cloud provider's charts."""
