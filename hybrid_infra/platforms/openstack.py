"""OpenStack: network, security groups, API endpoint (Octavia or a reserved VIP) and node pools."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_openstack as openstack

from ..config import API_PORT, ClusterSpec, OpenStackSpec
from .base import Node, NodeGroup, PlatformHints, Role

NOVA_MAX_USER_DATA = 65535 * 3 // 4
"""Nova takes at most 65535 bytes of base64-encoded user data."""
NODE_CREATION_INPUTS = ["userData", "blockDevices", "availabilityZone", "keyPair"]
"""Instance inputs that only matter when a node is created."""
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --- security ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityRule:
    """One ingress rule; ``source`` is a CIDR or the role whose security group may connect."""

    role: Role
    description: str
    protocol: Literal["tcp", "udp", "icmp"]
    ports: tuple[int, int] | None
    source: str

    @property
    def from_group(self) -> bool:
        return self.source in ("control-plane", "worker")


ROLES: tuple[Role, ...] = ("control-plane", "worker")

_CNI_RULES: dict[str, list[tuple[str, Literal["tcp", "udp", "icmp"], tuple[int, int] | None]]] = {
    "cilium": [
        ("cilium VXLAN overlay", "udp", (8472, 8472)),
        ("cilium health checks", "tcp", (4240, 4240)),
        ("cilium health ping", "icmp", None),
    ],
    "calico": [
        ("calico VXLAN overlay", "udp", (4789, 4789)),
        ("calico typha", "tcp", (5473, 5473)),
    ],
}


def security_rules(cluster: ClusterSpec, ssh_allowed_cidrs: Sequence[str]) -> list[SecurityRule]:
    """Every ingress rule of the cluster, by role; egress stays OpenStack's default (allow all)."""
    node_cidr = cluster.network.node_cidr
    rules: list[SecurityRule] = []
    # The nodes and the load balancer's amphorae (in the node subnet) reach the API; clients only
    # from the configured CIDRs.
    for cidr in dict.fromkeys([node_cidr, *cluster.endpoint.allowed_cidrs]):
        rules.append(SecurityRule("control-plane", "kubernetes API", "tcp", (API_PORT, API_PORT), cidr))
    rules.append(SecurityRule("control-plane", "etcd peers and clients", "tcp", (2379, 2380), "control-plane"))
    for role in ROLES:
        for source in ROLES:
            rules.append(SecurityRule(role, "kubelet API", "tcp", (10250, 10250), source))
            for description, protocol, ports in _CNI_RULES[cluster.cni]:
                rules.append(SecurityRule(role, description, protocol, ports, source))
        for cidr in ssh_allowed_cidrs:
            rules.append(SecurityRule(role, "ssh", "tcp", (22, 22), cidr))
    # Services of type LoadBalancer: Octavia members are NodePorts reached from the node subnet.
    for protocol in ("tcp", "udp"):
        rules.append(SecurityRule("worker", "node ports", protocol, (30000, 32767), node_cidr))
    return rules


def _rule_name(rule: SecurityRule) -> str:
    ports = f"{rule.ports[0]}" if rule.ports and rule.ports[0] == rule.ports[1] else (
        f"{rule.ports[0]}-{rule.ports[1]}" if rule.ports else "any"
    )
    source = rule.source.replace("/", "_")
    return f"{rule.protocol}-{ports}-from-{source}"


class OpenStackNetwork(pulumi.ComponentResource):
    """The node network (created, or an existing one reused) and one security group per role."""

    network_id: pulumi.Output[str]
    """ID of the network the nodes attach to."""
    subnet_id: pulumi.Output[str]
    """ID of the subnet node addresses come from."""
    security_group_ids: dict[Role, pulumi.Output[str]]
    """Security group of each role."""
    external_network_id: pulumi.Output[str] | None
    """ID of the external network, when one is configured (floating IPs come from it)."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        spec: OpenStackSpec,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:OpenStackNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self.external_network_id = None
        if spec.external_network is not None:
            self.external_network_id = openstack.networking.get_network_output(
                name=spec.external_network, external=True, opts=invoke
            ).id
        if spec.network.existing is None:
            network = openstack.networking.Network(
                f"{name}-network", name=cluster.name, admin_state_up=True, opts=child
            )
            subnet = openstack.networking.Subnet(
                f"{name}-subnet",
                name=cluster.name,
                network_id=network.id,
                cidr=cluster.network.node_cidr,
                ip_version=4,
                dns_nameservers=spec.network.dns_nameservers or None,
                opts=child,
            )
            router = openstack.networking.Router(
                f"{name}-router", name=cluster.name, external_network_id=self.external_network_id, opts=child
            )
            openstack.networking.RouterInterface(
                f"{name}-router-interface", router_id=router.id, subnet_id=subnet.id, opts=child
            )
            self.network_id = network.id
            self.subnet_id = subnet.id
        else:
            existing = spec.network.existing
            found = openstack.networking.get_network_output(
                **({"network_id": existing} if _UUID.match(existing) else {"name": existing}), opts=invoke
            )
            subnet_ref = spec.network.existing_subnet
            if subnet_ref is None:
                lookup = {"network_id": found.id, "cidr": cluster.network.node_cidr}
            elif _UUID.match(subnet_ref):
                lookup = {"subnet_id": subnet_ref}
            else:
                lookup = {"network_id": found.id, "name": subnet_ref}
            self.network_id = found.id
            self.subnet_id = openstack.networking.get_subnet_output(**lookup, opts=invoke).id

        groups = {
            role: openstack.networking.SecGroup(
                f"{name}-{role}",
                name=f"{cluster.name}-{role}",
                description=f"{cluster.name} Kubernetes {role} nodes",
                opts=child,
            )
            for role in ROLES
        }
        for rule in security_rules(cluster, spec.ssh_allowed_cidrs):
            openstack.networking.SecGroupRule(
                f"{name}-{rule.role}-{_rule_name(rule)}",
                description=rule.description,
                direction="ingress",
                ethertype="IPv4",
                protocol=rule.protocol,
                port_range_min=rule.ports[0] if rule.ports else None,
                port_range_max=rule.ports[1] if rule.ports else None,
                remote_group_id=groups[rule.source].id if rule.from_group else None,
                remote_ip_prefix=None if rule.from_group else rule.source,
                security_group_id=groups[rule.role].id,
                opts=pulumi.ResourceOptions(parent=groups[rule.role]),
            )
        self.security_group_ids = {role: group.id for role, group in groups.items()}
        self.register_outputs(
            {"network_id": self.network_id, "subnet_id": self.subnet_id, "security_group_ids": self.security_group_ids}
        )


# --- load balancer -----------------------------------------------------------------------


class OpenStackApiEndpoint(pulumi.ComponentResource):
    """An Octavia load balancer on port 6443, or a reserved port whose address kube-vip announces."""

    private_address: pulumi.Output[str]
    """Address the nodes use to reach the API."""
    public_address: pulumi.Output[str]
    """Floating IP when the endpoint is public, else the private address."""
    virtual_ip: pulumi.Output[str] | None
    """With ``type: vip``, the reserved address control-plane ports must accept."""
    port: int = API_PORT

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        spec: OpenStackSpec,
        network: OpenStackNetwork,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:OpenStackApiEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name = name
        self._subnet_id = network.subnet_id
        self._pool: openstack.loadbalancer.Pool | None = None
        if cluster.endpoint.type == "loadBalancer":
            balancer = openstack.loadbalancer.LoadBalancer(
                f"{name}-lb", name=f"{cluster.name}-api", vip_subnet_id=network.subnet_id, opts=child
            )
            listener = openstack.loadbalancer.Listener(
                f"{name}-listener",
                name=f"{cluster.name}-api",
                loadbalancer_id=balancer.id,
                protocol="TCP",
                protocol_port=API_PORT,
                allowed_cidrs=list(dict.fromkeys([cluster.network.node_cidr, *cluster.endpoint.allowed_cidrs])),
                # kubectl exec/logs/port-forward hold connections open for long.
                timeout_client_data=3_600_000,
                timeout_member_data=3_600_000,
                opts=child,
            )
            self._pool = openstack.loadbalancer.Pool(
                f"{name}-pool",
                name=f"{cluster.name}-api",
                listener_id=listener.id,
                protocol="TCP",
                lb_method="ROUND_ROBIN",
                opts=child,
            )
            openstack.loadbalancer.Monitor(
                f"{name}-monitor",
                name=f"{cluster.name}-api",
                pool_id=self._pool.id,
                type="HTTPS",
                url_path="/readyz",
                expected_codes="200",
                delay=10,
                timeout=5,
                max_retries=3,
                opts=child,
            )
            self.private_address = balancer.vip_address
            self.virtual_ip = None
            address_port_id = balancer.vip_port_id
        else:
            reserved = openstack.networking.Port(
                f"{name}-vip",
                name=f"{cluster.name}-api-vip",
                network_id=network.network_id,
                fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=network.subnet_id)],
                security_group_ids=[network.security_group_ids["control-plane"]],
                opts=child,
            )
            self.private_address = reserved.all_fixed_ips[0]
            self.virtual_ip = self.private_address
            address_port_id = reserved.id
        if cluster.endpoint.public:
            floating = openstack.networking.FloatingIp(
                f"{name}-floating-ip", pool=spec.external_network, description=f"{cluster.name} API", opts=child
            )
            openstack.networking.FloatingIpAssociate(
                f"{name}-floating-ip-association", floating_ip=floating.address, port_id=address_port_id, opts=child
            )
            self.public_address = floating.address
        else:
            self.public_address = self.private_address
        self.register_outputs({"private_address": self.private_address, "public_address": self.public_address})

    def add_members(self, nodes: Sequence[Node]) -> None:
        """Put the control-plane nodes behind the load balancer (a VIP needs no registration)."""
        if self._pool is None:
            return
        for node in nodes:
            openstack.loadbalancer.Member(
                f"{self._name}-member-{node.name}",
                name=node.name,
                pool_id=self._pool.id,
                address=node.private_address,
                protocol_port=API_PORT,
                subnet_id=self._subnet_id,
                opts=pulumi.ResourceOptions(parent=self),
            )


# --- nodes -------------------------------------------------------------------------------


class OpenStackNodePool(pulumi.ComponentResource):
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
        endpoint: OpenStackApiEndpoint,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:OpenStackNodePool", name, None, opts)
        if len(user_data) != group.count:
            raise ValueError(f"{name}: {len(user_data)} cloud-configs given for {group.count} nodes")
        child = pulumi.ResourceOptions(parent=self)
        server_group = openstack.compute.ServerGroup(
            f"{name}-server-group",
            name=f"{group.cluster}-{group.name}",
            # etcd members must never share a hypervisor; workers spread when capacity allows.
            policies="anti-affinity" if group.role == "control-plane" else "soft-anti-affinity",
            opts=child,
        )
        image = openstack.images.get_image_output(
            name=spec.image, most_recent=True, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        address_pairs = (
            [openstack.networking.PortAllowedAddressPairArgs(ip_address=endpoint.virtual_ip)]
            if group.role == "control-plane" and endpoint.virtual_ip is not None
            else None
        )
        metadata = {"hybrid-infra-cluster": group.cluster, "hybrid-infra-pool": group.name, "hybrid-infra-role": group.role}
        self.nodes = []
        for index, node_name in enumerate(group.node_names):
            zone = spec.availability_zones[index % len(spec.availability_zones)] if spec.availability_zones else None
            port = openstack.networking.Port(
                f"{name}-{index}-port",
                name=node_name,
                network_id=network.network_id,
                fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=network.subnet_id)],
                security_group_ids=[network.security_group_ids[group.role]],
                allowed_address_pairs=address_pairs,
                opts=child,
            )
            openstack.compute.Instance(
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
                        uuid=image.id,
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
                    private_address=port.all_fixed_ips[0],
                    fault_domain=zone or "default",
                )
            )
        self.register_outputs({"nodes": [{"name": n.name, "address": n.private_address} for n in self.nodes]})


# --- the platform ------------------------------------------------------------------------


class OpenStackPlatform:
    """Creates the network at once; then the endpoint and node pools on request (see ``base.Platform``)."""

    hints: PlatformHints

    def __init__(self, name: str, cluster: ClusterSpec, spec: OpenStackSpec, opts: pulumi.ResourceOptions):
        self.cluster = cluster
        self.spec = spec
        # With credentials, the OpenStack cloud controller manager initialises the nodes.
        self.hints = PlatformHints(
            cloud_provider_external=spec.cloud_provider is not None, max_user_data=NOVA_MAX_USER_DATA
        )
        self.network = OpenStackNetwork(f"{name}-network", cluster, spec, opts)

    def create_endpoint(self, name: str, opts: pulumi.ResourceOptions) -> OpenStackApiEndpoint:
        return OpenStackApiEndpoint(name, self.cluster, self.spec, self.network, opts)

    def create_node_pool(
        self,
        name: str,
        group: NodeGroup,
        user_data: Sequence[pulumi.Input[str]],
        endpoint: OpenStackApiEndpoint,
        opts: pulumi.ResourceOptions,
    ) -> OpenStackNodePool:
        return OpenStackNodePool(name, group, user_data, self.spec, self.network, endpoint, opts)
