"""OpenStack API endpoint: an Octavia load balancer on the API port, or a reserved port whose address
kube-vip announces; a floating IP when the endpoint is public."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_openstack as openstack

from ...config.cluster import API_PORT, ClusterSpec
from ...outputs import computed
from ..contract import ApiEndpoint, Node
from .config import LOAD_BALANCER_PROVIDER, OpenStackSpec
from .network import OpenStackNetwork


class OpenStackApiEndpoint(ApiEndpoint):
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
                f"{name}-lb",
                name=f"{cluster.name}-api",
                vip_subnet_id=network.subnet_id,
                loadbalancer_provider=LOAD_BALANCER_PROVIDER,
                opts=child,
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
                # A new control-plane node takes traffic two checks (about 6 s) after /readyz first
                # passes, so kubeadm's phases through the endpoint find it soon; three failures take
                # it out. Octavia counts max_retries successes to ONLINE, max_retries_down to ERROR.
                delay=3,
                timeout=2,
                max_retries=2,
                max_retries_down=3,
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
            self.private_address = computed(reserved.all_fixed_ips)[0]
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
        self.register_outputs({"privateAddress": self.private_address, "publicAddress": self.public_address})

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

