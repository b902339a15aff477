"""The contract every platform implements.

A platform creates the API endpoint first (its address goes into every node's cloud-config), then
node pools from a :class:`NodeGroup` and one cloud-config per node, and finally registers the
control-plane nodes as endpoint members. It knows nothing of kubeadm; the only things it tells
the bootstrap are plain :class:`PlatformHints`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import pulumi

from ..config import CONTROL_PLANE_POOL, ClusterSpec, PoolSpec, Taint

Role = Literal["control-plane", "worker"]


@dataclass(frozen=True)
class PlatformHints:
    """What the bootstrap may know about the platform, without naming it."""

    cloud_provider_external: bool
    """A cloud controller manager will run, so kubelets start with ``cloud-provider: external``."""
    max_user_data: int
    """The largest cloud-config (bytes) the platform passes to a VM."""


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

    @classmethod
    def control_plane(cls, cluster: ClusterSpec) -> NodeGroup:
        return cls(
            cluster=cluster.name,
            name=CONTROL_PLANE_POOL,
            role="control-plane",
            count=cluster.control_plane.count,
            size=cluster.control_plane.size,
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
        )

    def node_name(self, index: int) -> str:
        # A node's name depends on its index alone, so scaling out never renames existing nodes.
        short = "cp" if self.role == "control-plane" else self.name
        return f"{self.cluster}-{short}-{index}"

    @property
    def node_names(self) -> list[str]:
        return [self.node_name(index) for index in range(self.count)]


@dataclass(frozen=True)
class Node:
    name: str
    pool: str
    role: Role
    private_address: pulumi.Output[str]
    fault_domain: str


class ApiEndpoint(Protocol):
    """The Kubernetes API address, reserved before any node exists."""

    private_address: pulumi.Output[str]
    """Address the nodes use (load balancer VIP or reserved virtual IP)."""
    public_address: pulumi.Output[str]
    """Address clients outside the node network use; equals ``private_address`` when not public."""
    virtual_ip: pulumi.Output[str] | None
    """Set when no load balancer exists and the control plane must announce the address itself."""
    port: int

    def add_members(self, nodes: Sequence[Node]) -> None:
        """Register the control-plane nodes behind the endpoint."""
        ...


class NodePool(Protocol):
    nodes: list[Node]


class Platform(Protocol):
    """Factory of one platform's infrastructure; see :mod:`hybrid_infra.platforms.openstack`."""

    hints: PlatformHints

    def create_endpoint(self, name: str, opts: pulumi.ResourceOptions) -> ApiEndpoint: ...

    def create_node_pool(
        self,
        name: str,
        group: NodeGroup,
        user_data: Sequence[pulumi.Input[str]],
        endpoint: ApiEndpoint,
        opts: pulumi.ResourceOptions,
    ) -> NodePool: ...
