"""AWS network: a VPC with a private and a public subnet in each zone (or a reused VPC's subnets), and
security groups for the control plane, the workers and the API load balancers (rules from topology)."""

from __future__ import annotations

import functools
import ipaddress

import pulumi
import pulumi_aws as aws

from ...config.cluster import API_PORT, ClusterSpec
from ...config.errors import ConfigError
from ...topology import ROLES, FirewallRule, Role, firewall_rules
from ..contract import look_up
from .config import DEFAULT_ZONES, AwsSpec, subnet_layout, zone_problem

ANYWHERE = "0.0.0.0/0"


def cluster_tag(cluster: str) -> str:
    """The tag by which the AWS cloud controller manager finds the cluster's resources
    (kubernetes/cloud-provider-aws v1.34.0, pkg/providers/v1/tags.go, TagNameKubernetesClusterPrefix)."""
    return f"kubernetes.io/cluster/{cluster}"


def _rule_name(rule: FirewallRule) -> str:
    ports = "any" if rule.ports is None else (
        f"{rule.ports[0]}" if rule.ports[0] == rule.ports[1] else f"{rule.ports[0]}-{rule.ports[1]}"
    )
    return f"{rule.protocol}-{ports}-from-{rule.source.replace('/', '_')}"


def _port_range(rule: FirewallRule) -> tuple[int, int]:
    if rule.ports is not None:
        return rule.ports
    # Every ICMP type and code; every port of the other protocols.
    return (-1, -1) if rule.protocol == "icmp" else (0, 65535)


class AwsNetwork(pulumi.ComponentResource):
    """The VPC and subnets (created, or reused by ID) and one security group per role plus the API's."""

    vpc_id: pulumi.Output[str]
    """ID of the VPC."""
    zones: list[str]
    """The zone of each private subnet, in order: nodes spread over them."""
    private_subnet_ids: list[pulumi.Output[str]]
    """The nodes' subnet in each zone."""
    public_subnet_ids: list[pulumi.Output[str]]
    """The public subnet in each zone (NAT gateways, a public API load balancer); empty when none is given."""
    security_group_ids: dict[Role, pulumi.Output[str]]
    """Security group of each role."""
    api_security_group_id: pulumi.Output[str]
    """Security group of the API load balancers."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        spec: AwsSpec,
        region: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:AwsNetwork", name, None, opts)
        self._name = name
        self._cluster = cluster
        self._spec = spec
        self._region = region
        self._invoke = pulumi.InvokeOptions(parent=self)
        if spec.network.existing_vpc_id is None:
            self._create()
        else:
            self._reuse(spec.network.existing_vpc_id)
        self._security_groups()
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "zones": self.zones,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
                "securityGroupIds": self.security_group_ids,
            }
        )

    def _tags(self, name: str, **extra: str) -> dict[str, str]:
        return {"Name": name, cluster_tag(self._cluster.name): "owned", **extra}

    def _zones(self) -> list[str]:
        if self._spec.availability_zones:
            elsewhere = [zone for zone in self._spec.availability_zones if not zone.startswith(self._region)]
            if elsewhere:
                raise ConfigError(
                    [f"aws.availabilityZones: {elsewhere!r} is not allowed; name zones of the region {self._region} (aws:region)"]
                )
            return list(self._spec.availability_zones)
        offered = look_up(
            "aws.availabilityZones",
            f"the look-up of the zones of {self._region}",
            lambda: aws.get_availability_zones(
                state="available",
                # Regular zones only: Local Zones and Wavelength Zones need opting in.
                filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
                region=self._region,
                opts=self._invoke,
            ),
        )
        zones = sorted(offered.names)[:DEFAULT_ZONES]
        reason = zone_problem(len(zones), self._cluster.control_plane.count)
        if reason is not None:
            raise ConfigError([f"aws.availabilityZones: {self._region} offers {zones!r}; {reason}"])
        return zones

    def _create(self) -> None:
        cluster, network, name = self._cluster, self._spec.network, self._name
        child = pulumi.ResourceOptions(parent=self)
        self.zones = self._zones()
        private_cidrs, public_cidrs = (
            (network.private_subnets, network.public_subnets)
            if network.private_subnets
            else subnet_layout(cluster.network.node_cidr, len(self.zones))
        )
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cluster.network.node_cidr,
            # Instances get private DNS names, which the cloud controller manager reports as node addresses.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags(cluster.name),
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-internet-gateway", vpc_id=vpc.id, tags=self._tags(cluster.name), opts=child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, gateway_id=gateway.id)],
            tags=self._tags(f"{cluster.name}-public"),
            opts=child,
        )
        self.vpc_id = vpc.id
        self.private_subnet_ids, self.public_subnet_ids = [], []
        for zone, private_cidr, public_cidr in zip(self.zones, private_cidrs, public_cidrs, strict=True):
            # Role tags tell the cloud controller manager where Services' load balancers go.
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                tags=self._tags(f"{cluster.name}-public-{zone}", **{"kubernetes.io/role/elb": "1"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_routes.id, opts=child
            )
            address = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=self._tags(f"{cluster.name}-nat-{zone}"), opts=child)
            # One NAT gateway per zone: losing a zone does not cut the other zones' nodes off the internet.
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=address.allocation_id,
                subnet_id=public.id,
                tags=self._tags(f"{cluster.name}-{zone}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=private_cidr,
                availability_zone=zone,
                tags=self._tags(f"{cluster.name}-private-{zone}", **{"kubernetes.io/role/internal-elb": "1"}),
                opts=child,
            )
            routes = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, nat_gateway_id=nat.id)],
                tags=self._tags(f"{cluster.name}-private-{zone}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private.id, route_table_id=routes.id, opts=child
            )
            self.private_subnet_ids.append(private.id)
            self.public_subnet_ids.append(public.id)

    def _reuse(self, vpc_id: str) -> None:
        """The reused subnets, checked by look-up; each gets the cluster's tag as a shared resource."""
        node_network = ipaddress.IPv4Network(self._cluster.network.node_cidr)
        network = self._spec.network
        self.vpc_id = pulumi.Output.from_input(vpc_id)
        self.zones, self.private_subnet_ids, self.public_subnet_ids = [], [], []
        for kind, ids in (("private", network.private_subnet_ids), ("public", network.public_subnet_ids)):
            for index, subnet_id in enumerate(ids):
                key = f"aws.network.{kind}SubnetIds[{index}]"
                found = look_up(
                    key,
                    f"the look-up of subnet {subnet_id!r}",
                    functools.partial(aws.ec2.get_subnet, id=subnet_id, region=self._region, opts=self._invoke),
                )
                if found.vpc_id != vpc_id:
                    raise ConfigError(
                        [f"{key}: {subnet_id!r} is not allowed; it lies in {found.vpc_id}, outside the VPC "
                         f"aws.network.existingVpcId {vpc_id}"]
                    )
                if kind == "private":
                    if not ipaddress.IPv4Network(found.cidr_block).subnet_of(node_network):
                        raise ConfigError(
                            [f"{key}: {subnet_id!r} is not allowed; its {found.cidr_block} lies outside "
                             f"cluster.network.nodeCidr {node_network}, to which the node firewall rules open"]
                        )
                    if found.availability_zone in self.zones:
                        raise ConfigError(
                            [f"{key}: {subnet_id!r} is not allowed; another subnet lies in {found.availability_zone} "
                             "already, name one subnet per zone"]
                        )
                    self.zones.append(found.availability_zone)
                aws.ec2.Tag(
                    f"{self._name}-{kind}-{index}-cluster-tag",
                    resource_id=subnet_id,
                    key=cluster_tag(self._cluster.name),
                    value="shared",
                    opts=pulumi.ResourceOptions(parent=self),
                )
                (self.private_subnet_ids if kind == "private" else self.public_subnet_ids).append(
                    pulumi.Output.from_input(found.id)
                )

    def _security_groups(self) -> None:
        cluster, name = self._cluster, self._name
        groups: dict[str, aws.ec2.SecurityGroup] = {
            role: aws.ec2.SecurityGroup(
                f"{name}-{role}",
                vpc_id=self.vpc_id,
                description=f"{cluster.name} Kubernetes {role} nodes",
                # The cloud controller manager opens Services' node ports in the group with the cluster tag.
                tags=self._tags(f"{cluster.name}-{role}"),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for role in ROLES
        }
        for rule in firewall_rules(cluster, self._spec.ssh_allowed_cidrs):
            low, high = _port_range(rule)
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{rule.role}-{_rule_name(rule)}",
                security_group_id=groups[rule.role].id,
                description=rule.description,
                ip_protocol=rule.protocol,
                from_port=low,
                to_port=high,
                referenced_security_group_id=groups[rule.source].id if rule.from_role else None,
                cidr_ipv4=None if rule.from_role else rule.source,
                opts=pulumi.ResourceOptions(parent=groups[rule.role]),
            )
        for role, group in groups.items():
            # Security groups created through the API allow all egress; the provider removes that rule.
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{role}-egress",
                security_group_id=group.id,
                description="any egress",
                ip_protocol="-1",
                cidr_ipv4=ANYWHERE,
                opts=pulumi.ResourceOptions(parent=group),
            )
        api = aws.ec2.SecurityGroup(
            f"{name}-api",
            vpc_id=self.vpc_id,
            description=f"{cluster.name} Kubernetes API load balancers",
            tags={"Name": f"{cluster.name}-api"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        for cidr in dict.fromkeys([cluster.network.node_cidr, *cluster.endpoint.allowed_cidrs]):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-tcp-{API_PORT}-from-{cidr.replace('/', '_')}",
                security_group_id=api.id,
                description="kubernetes API",
                ip_protocol="tcp",
                from_port=API_PORT,
                to_port=API_PORT,
                cidr_ipv4=cidr,
                opts=pulumi.ResourceOptions(parent=api),
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-api-to-control-plane",
            security_group_id=api.id,
            description="kubernetes API and its health checks on the control plane",
            ip_protocol="tcp",
            from_port=API_PORT,
            to_port=API_PORT,
            referenced_security_group_id=groups["control-plane"].id,
            opts=pulumi.ResourceOptions(parent=api),
        )
        # The load balancers pass connections on from their own addresses (client IP preservation is off).
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-control-plane-tcp-{API_PORT}-from-api",
            security_group_id=groups["control-plane"].id,
            description="kubernetes API through its load balancers",
            ip_protocol="tcp",
            from_port=API_PORT,
            to_port=API_PORT,
            referenced_security_group_id=api.id,
            opts=pulumi.ResourceOptions(parent=groups["control-plane"]),
        )
        self.security_group_ids = {role: groups[role].id for role in ROLES}
        self.api_security_group_id = api.id
