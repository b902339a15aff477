"""vSphere API endpoint: an address from the section, announced by kube-vip or served by the user's load balancer.

vSphere has no load balancer of its own and nothing to reserve an address with, so the endpoint
creates no cloud resource: with ``endpoint.type: vip`` the control plane announces the address
(kube-vip, rendered by the bootstrap because ``virtual_ip`` is set); with ``loadBalancer`` it is the
address of a load balancer the user runs and registers the control-plane nodes with.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from ...config.cluster import API_PORT, ClusterSpec
from ..contract import ApiEndpoint, Node
from .config import VSphereSpec


class VSphereApiEndpoint(ApiEndpoint):
    """The configured API address: a virtual IP for kube-vip, or an external load balancer's address."""

    private_address: pulumi.Output[str]
    """``vsphere.endpoint.address``."""
    public_address: pulumi.Output[str]
    """The same address: vSphere has no floating addresses."""
    virtual_ip: pulumi.Output[str] | None
    """With ``type: vip``, the address kube-vip announces from the control plane."""
    port: int = API_PORT

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        spec: VSphereSpec,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:VSphereApiEndpoint", name, None, opts)
        self.private_address = pulumi.Output.from_input(spec.endpoint.address)
        self.public_address = self.private_address
        self.virtual_ip = self.private_address if cluster.endpoint.type == "vip" else None
        self.register_outputs({"privateAddress": self.private_address, "publicAddress": self.public_address})

    def add_members(self, nodes: Sequence[Node]) -> None:
        """Nothing to register: kube-vip needs no members, and the user registers them with their load balancer."""
