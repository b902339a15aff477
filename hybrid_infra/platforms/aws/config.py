"""The ``hybrid-infra:aws`` section: its model, its checks across sections, its chart pins."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from ...config.addons import ChartSpec
from ...config.cluster import ClusterSpec, NodeLimit
from ...config.errors import problem, raise_problems
from ...config.fields import Cidr, Int, NonEmpty, Spec
from ...config.versions import Pin, kept_pins
from ...topology import NodeGroup, node_groups, zone_slot
from ..contract import PlatformSection, PoolPlacement

if TYPE_CHECKING:
    from ...stack import StackSpec

CCM_CHART_REPOSITORY = "https://kubernetes.github.io/cloud-provider-aws"
CCM_CHART_VERSION = "0.0.11"
"""Chart aws-cloud-controller-manager 0.0.11, the newest (kubernetes/cloud-provider-aws, tag
helm-chart-aws-cloud-controller-manager-0.0.11); its values.yaml runs v1.35.0 unless ``image.tag`` says."""
CCM_IMAGE_TAG = "v1.35.2"
"""The cloud controller manager for Kubernetes 1.35 at its newest patch whose image the registry's
promoter lists (kubernetes/k8s.io, registry.k8s.io/images/k8s-staging-provider-aws/images.yaml); set on
chart 0.0.11 only. Upstream pairs each release with its own Kubernetes minor (docs/README.md)."""
EBS_CSI_CHART_REPOSITORY = "https://kubernetes-sigs.github.io/aws-ebs-csi-driver"
EBS_CSI_CHART_VERSION = "2.64.0"
"""Chart aws-ebs-csi-driver 2.64.0 runs the driver v1.64.0, compatible with the Kubernetes releases the
Kubernetes project and EKS support, 1.34 among them (kubernetes-sigs/aws-ebs-csi-driver, tag
helm-chart-aws-ebs-csi-driver-2.64.0, charts/aws-ebs-csi-driver/Chart.yaml, README.md "Compatibility")."""

PINS = {
    "cloudControllerManager": Pin(
        f"AWS cloud controller manager chart (image {CCM_IMAGE_TAG})",
        CCM_CHART_VERSION,
        ("1.35", "1.35"),
        "kubernetes/cloud-provider-aws v1.35.2, docs/README.md (a release works with its own Kubernetes minor only)",
    ),
    "ebsCsiDriver": Pin(
        "EBS CSI driver chart",
        EBS_CSI_CHART_VERSION,
        None,
        "kubernetes-sigs/aws-ebs-csi-driver v1.64.0, README.md: every Kubernetes version the Kubernetes project supports",
    ),
}

CANONICAL_OWNER = "099720109477"
"""Canonical's AWS account, which publishes the Ubuntu images (kubernetes/kops v1.36.2,
docs/operations/images.md, "Owner aliases": ubuntu => 099720109477)."""
UBUNTU_IMAGES = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
"""Ubuntu 24.04 LTS server images for x86_64 on gp3 volumes (the same document, "Ubuntu 24.04 (Noble)",
names them ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-*)."""

NESTED_VIRTUALIZATION_FAMILIES = ("c8i", "m8i", "r8i", "c8i-flex", "m8i-flex", "r8i-flex")
"""Instance families whose CPU option NestedVirtualization exposes VT-x to the guest: 8th generation
Intel types and their flex variants (pulumi-aws 7.51.1, ec2 InstanceCpuOptionsArgs.nested_virtualization;
EC2 API reference, CpuOptionsRequest.NestedVirtualization)."""

SUBNET_PREFIXES = (16, 28)
# Addresses of a subnet no node gets: the five AWS keeps (the first four and the last, CreateSubnet in
# the EC2 API reference) and the network interface the API's internal Network Load Balancer takes in
# each of its subnets (Elastic Load Balancing, "Availability Zones for your Network Load Balancer").
SUBNET_ADDRESSES_TAKEN = 5 + 1
"""The largest and smallest subnets a VPC takes."""
DEFAULT_ZONES = 3
"""Zones taken, in name order, from those the region offers when ``availabilityZones`` is not set."""

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]+$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]+$")


def _instance_type(value: str) -> str:
    if not _INSTANCE_TYPE.match(value):
        raise problem(f"{value!r} is not allowed; use an EC2 instance type such as m8i.xlarge")
    return value


def _id_of(pattern: re.Pattern[str], example: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise problem(f"{value!r} is not allowed; use an ID such as {example}")
        return value

    return check


InstanceType = Annotated[NonEmpty, AfterValidator(_instance_type)]
VpcId = Annotated[NonEmpty, AfterValidator(_id_of(_VPC_ID, "vpc-0123456789abcdef0"))]
SubnetId = Annotated[NonEmpty, AfterValidator(_id_of(_SUBNET_ID, "subnet-0123456789abcdef0"))]


def kvm_capability(instance_type: str) -> Literal["nested", "metal"] | None:
    """How a type exposes /dev/kvm: bare metal, nested virtualization (when enabled), or not at all."""
    family, _, size = instance_type.partition(".")
    if size.startswith("metal"):
        return "metal"
    if family in NESTED_VIRTUALIZATION_FAMILIES:
        return "nested"
    return None


def subnet_layout(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private and public subnets, one of each per zone: the VPC's first half is cut into the private
    subnets, its second half into the public ones, each half into the next power of two >= zones.

    Raises ValueError when the subnets would be smaller than a VPC allows.
    """
    network = ipaddress.IPv4Network(vpc_cidr)
    slices = max(2, 1 << (zones - 1).bit_length())
    prefix = network.prefixlen + 1 + (slices - 1).bit_length()
    if prefix > SUBNET_PREFIXES[1]:
        raise ValueError(
            f"{network} is too small for {zones} zones: each would get a /{prefix}, "
            f"and a VPC takes subnets down to /{SUBNET_PREFIXES[1]}"
        )
    private, public = (list(half.subnets(new_prefix=prefix))[:zones] for half in network.subnets(prefixlen_diff=1))
    return [str(subnet) for subnet in private], [str(subnet) for subnet in public]


_SUBNET_ROOM = "AWS keeps 5 addresses of a subnet, the API's internal load balancer takes 1"


def _room(cidr: str) -> int:
    return max(ipaddress.IPv4Network(cidr).num_addresses - SUBNET_ADDRESSES_TAKEN, 0)


def zone_problem(zones: int, control_plane: int) -> str | None:
    """Why a number of zones does not carry the cluster, or None."""
    if zones < 2:
        return "use at least two zones: the private subnets and the API load balancer span two or more"
    most = math.ceil(control_plane / zones)
    if control_plane > 1 and control_plane - most <= control_plane // 2:
        needed = next(
            more for more in range(zones, control_plane + 1)
            if control_plane - math.ceil(control_plane / more) > control_plane // 2
        )
        return (
            f"a control plane of {control_plane} nodes in {zones} zones loses etcd's quorum with the zone "
            f"holding {most} of them; use at least {needed} zones"
        )
    return None


class AwsNetworkSpec(Spec):
    """A VPC created with the node network as its CIDR, or an existing VPC and its subnets reused by ID."""

    private_subnets: list[Cidr] = Field(
        default=[], description="a created VPC's private subnets, one per zone; default: cut from cluster.network.nodeCidr"
    )
    public_subnets: list[Cidr] = Field(default=[], description="a created VPC's public subnets, one per zone")
    existing_vpc_id: VpcId | None = Field(None, description="ID of a VPC to reuse; omit to create one")
    private_subnet_ids: list[SubnetId] = Field(default=[], description="the reused VPC's subnets for the nodes, one per zone")
    public_subnet_ids: list[SubnetId] = Field(
        default=[], description="the reused VPC's public subnets, for a public API endpoint"
    )

    @model_validator(mode="after")
    def _created_or_reused(self) -> AwsNetworkSpec:
        if self.existing_vpc_id is None:
            for key, value in (("privateSubnetIds", self.private_subnet_ids), ("publicSubnetIds", self.public_subnet_ids)):
                if value:
                    raise problem(f"{value!r} is not allowed without existingVpcId; name the VPC to reuse", key=key)
            if bool(self.private_subnets) != bool(self.public_subnets):
                missing = "publicSubnets" if self.private_subnets else "privateSubnets"
                raise problem("missing; private and public subnets are given together, one of each per zone", key=missing)
        else:
            for key, cidrs in (("privateSubnets", self.private_subnets), ("publicSubnets", self.public_subnets)):
                if cidrs:
                    raise problem(
                        f"{cidrs!r} is not allowed with existingVpcId; name the reused subnets in {key[:-1]}Ids", key=key
                    )
            if len(self.private_subnet_ids) < 2:
                raise problem(
                    f"{self.private_subnet_ids!r} is not allowed; name the reused VPC's subnets for the nodes, "
                    "at least two in different zones",
                    key="privateSubnetIds",
                )
        return self


class AwsImageSpec(Spec):
    """The image every node boots: the most recent of ``owner``'s images whose name matches ``namePattern``."""

    owner: NonEmpty = Field(CANONICAL_OWNER, description="AWS account publishing the image; default: Canonical")
    name_pattern: NonEmpty = Field(UBUNTU_IMAGES, description="image name, * matching any characters")


class AwsChartsSpec(Spec):
    """The cloud provider's charts at pinned versions; point ``repository`` at a mirror for air-gapped sites."""

    cloud_controller_manager: ChartSpec = ChartSpec(repository=CCM_CHART_REPOSITORY, version=CCM_CHART_VERSION)
    ebs_csi_driver: ChartSpec = ChartSpec(repository=EBS_CSI_CHART_REPOSITORY, version=EBS_CSI_CHART_VERSION)


class AwsSpec(PlatformSection):
    stack_key: ClassVar[str] = "aws"

    size_map: ClassVar[str | None] = "instance_types"

    instance_types: dict[NonEmpty, InstanceType] = Field(description="size name used by pools -> EC2 instance type")
    availability_zones: list[NonEmpty] = Field(
        default=[], description=f"zones the nodes spread over; default: the first {DEFAULT_ZONES} the region offers"
    )
    network: AwsNetworkSpec = AwsNetworkSpec()
    image: AwsImageSpec = AwsImageSpec()
    root_volume_size: Int = Field(50, ge=20, le=16384, description="GiB of each node's encrypted gp3 root volume")
    key_pair: NonEmpty | None = Field(None, description="EC2 key pair for emergency access")
    ssh_allowed_cidrs: list[Cidr] = []
    charts: AwsChartsSpec = AwsChartsSpec()

    def provides_storage_class(self) -> bool:
        return True

    def placement(self, group: NodeGroup) -> PoolPlacement:
        return PoolPlacement(self.instance_types.get(group.size, "-"), tuple(self.availability_zones))

    def versions(self) -> list[str]:
        return [
            f"AWS cloud controller manager chart {self.charts.cloud_controller_manager.version}",
            f"EBS CSI driver chart {self.charts.ebs_csi_driver.version}",
        ]

    def pins(self) -> list[Pin]:
        charts = self.charts
        chosen = {"cloudControllerManager": charts.cloud_controller_manager.version, "ebsCsiDriver": charts.ebs_csi_driver.version}
        return kept_pins(PINS, chosen)

    def zones(self) -> list[str]:
        if self.network.existing_vpc_id:
            return [f"the zone of {subnet}" for subnet in self.network.private_subnet_ids]
        return list(self.availability_zones) or [f"zone {n} of {DEFAULT_ZONES}" for n in range(1, DEFAULT_ZONES + 1)]

    def zones_key(self) -> str:
        """The key that decides the zones: the reused subnets, or the zone list."""
        return "aws.network.privateSubnetIds" if self.network.existing_vpc_id else "aws.availabilityZones"

    def zones_problem(self, zones: Sequence[str], cluster: ClusterSpec) -> PydanticCustomError | None:
        """Why zones cannot carry the cluster, naming the key that decides them, or None."""
        reason = zone_problem(len(zones), cluster.control_plane.count)
        if reason is None:
            return None
        return problem(f"{list(zones)!r} is not allowed; {reason}", key=self.zones_key(), absolute=True)

    def check(self, stack: StackSpec) -> None:
        cluster = stack.cluster
        found: list[PydanticCustomError] = []
        if cluster.endpoint.type != "loadBalancer":
            found.append(
                problem(
                    f"{cluster.endpoint.type!r} is not allowed on AWS; a VPC does not carry an address announced "
                    "by ARP, use loadBalancer (a Network Load Balancer)",
                    key="cluster.endpoint.type",
                    absolute=True,
                )
            )
        if cluster.pki.key_algorithm in ("rsa-3072", "rsa-4096"):
            found.append(
                problem(
                    f"{cluster.pki.key_algorithm!r} is not allowed on AWS; the control-plane nodes' cloud-configs "
                    "would not fit in EC2's 16 KB of user data even compressed, use ecdsa-p256 or rsa-2048",
                    key="cluster.pki.keyAlgorithm",
                    absolute=True,
                )
            )
        for index, pool in enumerate(cluster.pools):
            instance_type = self.instance_types.get(pool.size)  # None: refused by its size already
            if (
                instance_type is not None
                and pool.virtualization
                and kvm_capability(instance_type) is None
                and not stack.addons.kubevirt.use_emulation
            ):
                found.append(
                    problem(
                        f"pool {pool.name!r} cannot run VMs with KVM: its instance type {instance_type!r} offers neither "
                        f"nested virtualization ({', '.join(NESTED_VIRTUALIZATION_FAMILIES)}) nor bare metal (*.metal*); "
                        "use one of those, or set addons.kubevirt.useEmulation: true to emulate without KVM (slow, for "
                        "tests only)",
                        key=f"cluster.pools[{index}]",
                        absolute=True,
                    )
                )
        network = self.network
        if network.existing_vpc_id is not None:
            if self.availability_zones:
                found.append(
                    problem(
                        f"{self.availability_zones!r} is not allowed with aws.network.existingVpcId; "
                        "the nodes spread over the zones of aws.network.privateSubnetIds",
                        key="aws.availabilityZones",
                        absolute=True,
                    )
                )
            found += filter(None, [self.zones_problem(network.private_subnet_ids, cluster)])
            if cluster.endpoint.public and not network.public_subnet_ids:
                found.append(
                    problem(
                        "missing; a public endpoint needs the reused VPC's public subnets",
                        key="aws.network.publicSubnetIds",
                        absolute=True,
                    )
                )
            raise_problems(found)
            return
        if len(set(self.availability_zones)) != len(self.availability_zones):
            found.append(
                problem(
                    f"{self.availability_zones!r} is not allowed; name each zone once",
                    key="aws.availabilityZones",
                    absolute=True,
                )
            )
        elif self.availability_zones:
            found += filter(None, [self.zones_problem(self.availability_zones, cluster)])
        found += self._subnet_problems(cluster)
        found += self._subnet_room_problems(cluster)
        raise_problems(found)

    def _subnet_room_problems(self, cluster: ClusterSpec) -> list[PydanticCustomError]:
        """Each zone's private subnet holds the nodes placed in it: node ``i`` of a pool goes to zone
        ``zone_slot(group, i, zones)`` (nodes.py), so the first zones get the most."""
        private = self.network.private_subnets
        zones = len(private) or len(self.availability_zones) or DEFAULT_ZONES
        per_zone = [0] * zones
        for group in node_groups(cluster):
            for index in range(group.count):
                per_zone[zone_slot(group, index, zones)] += 1
        if private:
            limits = [
                (NodeLimit(f"aws.network.privateSubnets[{slot}]", cidr, _room(cidr), _SUBNET_ROOM, counted="its zone gets"), nodes)
                for slot, (cidr, nodes) in enumerate(zip(private, per_zone, strict=True))
            ]
        else:
            try:
                subnet = subnet_layout(cluster.network.node_cidr, zones)[0][0]
            except ValueError:
                return []  # too small to cut: refused by _subnet_problems
            why = f"each zone's private subnet is a /{ipaddress.IPv4Network(subnet).prefixlen} of it; {_SUBNET_ROOM}"
            most = NodeLimit(
                "cluster.network.nodeCidr", cluster.network.node_cidr, _room(subnet), why, counted="the zone with the most nodes gets"
            )
            limits = [(most, max(per_zone))]
        return [found for limit, nodes in limits if (found := limit.problem(nodes)) is not None]

    def _subnet_problems(self, cluster: ClusterSpec) -> list[PydanticCustomError]:
        vpc = ipaddress.IPv4Network(cluster.network.node_cidr)
        network = self.network
        if not network.private_subnets:
            zones = len(self.availability_zones) or DEFAULT_ZONES
            try:
                subnet_layout(cluster.network.node_cidr, zones)
            except ValueError as error:
                return [problem(f"{error}; use a larger node network", key="cluster.network.nodeCidr", absolute=True)]
            return []
        if not self.availability_zones:
            return [
                problem(
                    f"{network.private_subnets!r} is not allowed without aws.availabilityZones; name the zones "
                    "the subnets lie in, in the same order",
                    key="aws.network.privateSubnets",
                    absolute=True,
                )
            ]
        found: list[PydanticCustomError] = []
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for key, cidrs in (("privateSubnets", network.private_subnets), ("publicSubnets", network.public_subnets)):
            if len(cidrs) != len(self.availability_zones):
                found.append(
                    problem(
                        f"{len(cidrs)} subnets are not allowed for {len(self.availability_zones)} zones; give one per zone",
                        key=f"aws.network.{key}",
                        absolute=True,
                    )
                )
            for index, cidr in enumerate(cidrs):
                path = f"aws.network.{key}[{index}]"
                subnet = ipaddress.IPv4Network(cidr)
                reasons = []
                if not subnet.subnet_of(vpc):
                    reasons.append(f"it lies outside the VPC, whose CIDR is cluster.network.nodeCidr {vpc}")
                if not SUBNET_PREFIXES[0] <= subnet.prefixlen <= SUBNET_PREFIXES[1]:
                    reasons.append(f"a VPC takes subnets from /{SUBNET_PREFIXES[0]} to /{SUBNET_PREFIXES[1]}")
                reasons += [f"it overlaps {other} {known}" for other, known in seen if subnet.overlaps(known)]
                if reasons:
                    found.append(problem(f"{cidr!r} is not allowed; {'; '.join(reasons)}", key=path, absolute=True))
                seen.append((path, subnet))
        return found


SECTION = AwsSpec
