"""AWS API endpoint: an internal Network Load Balancer on the API port in the private subnets, and with a
public endpoint an internet-facing one in the public subnets; the control-plane nodes are their targets."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from ...config.cluster import API_PORT, ClusterSpec
from ..contract import ApiEndpoint, Node
from .network import AwsNetwork

IDLE_TIMEOUT_SECONDS = 3600
"""kubectl exec, logs and port-forward hold connections open for long (the listener's default is 350 s)."""


class AwsApiEndpoint(ApiEndpoint):
    """Network Load Balancers on port 6443: internal for the nodes, internet-facing for clients when public.

    The nodes always reach the API inside the VPC, never through the NAT gateways and the internet.
    Targets are the control-plane nodes' addresses, and client IP preservation is off: a control-plane
    node that reaches the API through the load balancer may be sent to itself, which fails when the
    packet keeps its own address as source (NAT loopback). The load balancers' security group lets in
    the node network and ``endpoint.allowedCidrs``; their health checks ask /readyz over HTTPS.
    """

    private_address: pulumi.Output[str]
    """DNS name of the internal load balancer, which the nodes use."""
    public_address: pulumi.Output[str]
    """DNS name of the internet-facing load balancer when the endpoint is public, else the private address."""
    virtual_ip: pulumi.Output[str] | None
    """None: load balancers carry the address."""
    port: int = API_PORT

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        network: AwsNetwork,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:AwsApiEndpoint", name, None, opts)
        self._name = name
        self._target_groups: dict[str, aws.lb.TargetGroup] = {}
        internal = self._load_balancer(f"{name}-internal", f"{cluster.name}-api", cluster, network, internal=True)
        self.private_address = internal.dns_name
        self.virtual_ip = None
        if cluster.endpoint.public:
            public = self._load_balancer(f"{name}-public", f"{cluster.name}-api-public", cluster, network, internal=False)
            self.public_address = public.dns_name
        else:
            self.public_address = self.private_address
        self.register_outputs({"privateAddress": self.private_address, "publicAddress": self.public_address})

    def _load_balancer(
        self, name: str, aws_name: str, cluster: ClusterSpec, network: AwsNetwork, internal: bool
    ) -> aws.lb.LoadBalancer:
        child = pulumi.ResourceOptions(parent=self)
        tags = {"Name": aws_name}
        balancer = aws.lb.LoadBalancer(
            name,
            name=aws_name,
            load_balancer_type="network",
            internal=internal,
            subnets=network.private_subnet_ids if internal else network.public_subnet_ids,
            security_groups=[network.api_security_group_id],
            # A zone whose control-plane node is down still answers from the nodes in other zones.
            enable_cross_zone_load_balancing=True,
            tags=tags,
            opts=child,
        )
        targets = aws.lb.TargetGroup(
            name,
            name=aws_name,
            port=API_PORT,
            protocol="TCP",
            target_type="ip",
            vpc_id=network.vpc_id,
            preserve_client_ip="false",
            deregistration_delay=30,
            # A new control-plane node takes traffic two checks (20 s) after /readyz first passes, so
            # kubeadm's phases through the endpoint find it soon; three failures take it out.
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                protocol="HTTPS",
                path="/readyz",
                port="traffic-port",
                interval=10,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=tags,
            opts=child,
        )
        aws.lb.Listener(
            name,
            load_balancer_arn=balancer.arn,
            port=API_PORT,
            protocol="TCP",
            tcp_idle_timeout_seconds=IDLE_TIMEOUT_SECONDS,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=targets.arn)],
            tags=tags,
            opts=child,
        )
        self._target_groups[name] = targets
        return balancer

    def add_members(self, nodes: Sequence[Node]) -> None:
        """Register the control-plane nodes' addresses with every target group."""
        for name, targets in self._target_groups.items():
            for node in nodes:
                aws.lb.TargetGroupAttachment(
                    f"{name}-{node.name}",
                    target_group_arn=targets.arn,
                    target_id=node.private_address,
                    port=API_PORT,
                    opts=pulumi.ResourceOptions(parent=self),
                )
