"""The cluster's shape, pure and platform-free: node groups, roles, node names, what a platform tells
the bootstrap, and the ports every node firewall opens.

``bootstrap/`` and every platform import this module; it imports neither of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .config.cluster import API_PORT, CONTROL_PLANE_POOL, ClusterSpec, PoolSpec, Taint

Role = Literal["control-plane", "worker"]
ROLES: tuple[Role, ...] = ("control-plane", "worker")
Protocol = Literal["tcp", "udp", "icmp"]


@dataclass(frozen=True)
class PlatformHints:
    """What the bootstrap may know about the platform, without naming it."""

    cloud_provider_external: bool
    """A cloud controller manager will run, so kubelets start with ``cloud-provider: external``."""
    max_user_data: int
    """The largest cloud-config (bytes) the platform passes to a VM."""
    provider_id: str | None = None
    """Where the cloud controller manager identifies nodes by their provider ID rather than by name:
    the ID as a ``cloud-init query --format`` template over cloud-init's standard instance data
    (``v1.instance_id``, ``v1.availability_zone``, ...), which the node fills in at boot. None: the
    kubelet sets no provider ID."""
    key_fetch: str | None = None
    """Where the platform keeps the control-plane key files itself: the program (with its ``#!`` line)
    a control-plane node runs before its bootstrap to write them, the files of
    :func:`hybrid_infra.bootstrap.cloudinit.control_plane_keys` with mode 0600. Their user data then
    carries no key. None: the keys come in the control-plane nodes' user data."""


@dataclass(frozen=True)
class NodeGroup:
    """One pool of identical nodes, as a platform needs it."""

    cluster: str
    name: str
    role: Role
    count: int
    size: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    virtualization: bool = False
    platform: str | None = None
    """The platform section the nodes run on; None: the only one given."""

    @classmethod
    def control_plane(cls, cluster: ClusterSpec) -> NodeGroup:
        return cls(
            cluster=cluster.name,
            name=CONTROL_PLANE_POOL,
            role="control-plane",
            count=cluster.control_plane.count,
            size=cluster.control_plane.size,
            platform=cluster.control_plane.platform,
        )

    @classmethod
    def workers(cls, cluster: ClusterSpec, pool: PoolSpec) -> NodeGroup:
        return cls(
            cluster=cluster.name,
            name=pool.name,
            role="worker",
            count=pool.count,
            size=pool.size,
            labels=dict(pool.labels),
            taints=tuple(pool.taints),
            virtualization=pool.virtualization,
            platform=pool.platform,
        )

    def node_name(self, index: int) -> str:
        # A node's name depends on its index alone, so scaling out never renames existing nodes.
        short = "cp" if self.role == "control-plane" else self.name
        return f"{self.cluster}-{short}-{index}"

    @property
    def node_names(self) -> list[str]:
        return [self.node_name(index) for index in range(self.count)]


def node_groups(cluster: ClusterSpec) -> list[NodeGroup]:
    """The control plane first, then the worker pools in the stack's order."""
    return [NodeGroup.control_plane(cluster)] + [NodeGroup.workers(cluster, pool) for pool in cluster.pools]


def zone_slot(group: NodeGroup, index: int, zones: int) -> int:
    """The zone, of ``zones`` taken in order, of the group's node ``index``: one node at a time in turn,
    so that control-plane nodes land in distinct zones; a virtualization pool two at a time.

    A VM's disk is a zonal volume: a drain can move the VM only to another virtualization node of the
    disk's zone. Filled in pairs, every zone a virtualization pool uses holds two of its nodes once its
    count is even. The zone depends on the index alone, so scaling out moves no existing node."""
    step = 2 if group.virtualization else 1
    return (index // step) % zones


def lone_virtualization_nodes(cluster: ClusterSpec, zones: Mapping[str, list[str]], platform: str) -> list[str]:
    """One line for each virtualization node that no other virtualization node shares a zone with: a
    drain of that node stops its VMs, whose disks cannot leave the zone. ``zones`` names the zones of each
    platform section in the order nodes fill them (``PlatformSection.zones``); ``platform`` is the section of
    pools that name none."""
    placed: dict[tuple[str, str], list[tuple[int, NodeGroup, int]]] = {}
    for position, pool in enumerate(cluster.pools):
        group = NodeGroup.workers(cluster, pool)
        if not group.virtualization:
            continue
        section = group.platform or platform
        names = zones[section]
        for index in range(group.count):
            zone = names[zone_slot(group, index, len(names))]
            placed.setdefault((section, zone), []).append((position, group, index))
    lines = []
    for (_, zone), nodes in placed.items():
        if len(nodes) == 1:
            ((position, group, index),) = nodes
            lines.append(
                f"cluster.pools[{position}].count: {group.count} leaves {group.node_name(index)} the only "
                f"virtualization node in {zone}: draining it stops its VMs, since their disks cannot leave the "
                "zone; use an even count (virtualization pools fill each zone with two nodes)"
            )
    return lines


@dataclass(frozen=True)
class FirewallRule:
    """One ingress rule; ``source`` is a CIDR or the role whose nodes may connect."""

    role: Role
    description: str
    protocol: Protocol
    ports: tuple[int, int] | None
    source: str

    @property
    def from_role(self) -> bool:
        return self.source in ROLES


CNI_PORTS: dict[str, list[tuple[str, Protocol, tuple[int, int] | None]]] = {
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


def firewall_rules(cluster: ClusterSpec, ssh_allowed_cidrs: list[str] | tuple[str, ...] = ()) -> list[FirewallRule]:
    """Every ingress rule of the cluster's nodes, by role; egress stays open."""
    node_cidr = cluster.network.node_cidr
    rules: list[FirewallRule] = []
    # The nodes and a load balancer in the node network reach the API; clients only from the
    # configured CIDRs.
    for cidr in dict.fromkeys([node_cidr, *cluster.endpoint.allowed_cidrs]):
        rules.append(FirewallRule("control-plane", "kubernetes API", "tcp", (API_PORT, API_PORT), cidr))
    rules.append(FirewallRule("control-plane", "etcd peers and clients", "tcp", (2379, 2380), "control-plane"))
    for role in ROLES:
        for source in ROLES:
            rules.append(FirewallRule(role, "kubelet API", "tcp", (10250, 10250), source))
            for description, protocol, ports in CNI_PORTS[cluster.cni]:
                rules.append(FirewallRule(role, description, protocol, ports, source))
        for cidr in ssh_allowed_cidrs:
            rules.append(FirewallRule(role, "ssh", "tcp", (22, 22), cidr))
    # Services of type LoadBalancer: the cloud's load balancer reaches NodePorts from the node network.
    for protocol in ("tcp", "udp"):
        rules.append(FirewallRule("worker", "node ports", protocol, (30000, 32767), node_cidr))
    return rules
