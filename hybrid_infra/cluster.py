"""KubernetesCluster: PKI, API endpoint and node pools on any platform, bootstrapped without SSH."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .bootstrap.cloudinit import NodeBootstrap, render_cloud_config
from .bootstrap.kubeadm import TOKEN_DESCRIPTION, TOKEN_GROUP, ClusterEndpoint
from .bootstrap.kubeconfig import render_kubeconfig
from .bootstrap.pki import ClusterPki, PkiMaterial
from .config import CONTROL_PLANE_POOL, ClusterSpec
from .platforms.base import (
    ApiEndpoint,
    Node,
    NodeGroup,
    NodePool,
    Platform,
    PlatformHints,
)
from .readiness import ReadinessGate


def _cloud_config(
    cluster: ClusterSpec,
    group: NodeGroup,
    index: int,
    endpoint: ApiEndpoint,
    hints: PlatformHints,
    material: pulumi.Output[PkiMaterial],
) -> pulumi.Output[str]:
    def render(args: list) -> str:
        private, public, pki = args
        address = ClusterEndpoint(private, public, endpoint.port, announce=endpoint.virtual_ip is not None)
        return render_cloud_config(NodeBootstrap(cluster, group, index, address, hints), pki)

    # Every cloud-config carries the join token, and on control-plane nodes the CA keys.
    return pulumi.Output.secret(
        pulumi.Output.all(endpoint.private_address, endpoint.public_address, material).apply(render)
    )


class KubernetesCluster(pulumi.ComponentResource):
    """PKI and endpoint first, then every node at once; kubeconfig, readiness gate and provider after."""

    endpoint: pulumi.Output[str]
    """Address clients use to reach the Kubernetes API."""
    api_address: pulumi.Output[str]
    """Address the nodes use to reach the Kubernetes API."""
    api_port: int
    """Port of the Kubernetes API."""
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig built from the PKI (secret)."""
    nodes: pulumi.Output[list[dict[str, str]]]
    """Every node: name, pool, role, private address and fault domain."""
    provider: k8s.Provider
    """Kubernetes provider for the new cluster; usable once the API answers /readyz."""
    ready: ReadinessGate
    """Exists once the API answers; add-ons depend on it through ``provider``."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        platform: Platform,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:KubernetesCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.pki = ClusterPki(f"{name}-pki", cluster, child)
        endpoint = platform.create_endpoint(f"{name}-endpoint", child)

        groups = [NodeGroup.control_plane(cluster)] + [NodeGroup.workers(cluster, pool) for pool in cluster.pools]
        self.pools: dict[str, NodePool] = {}
        for group in groups:
            user_data = [
                _cloud_config(cluster, group, index, endpoint, platform.hints, self.pki.material)
                for index in range(group.count)
            ]
            self.pools[group.name] = platform.create_node_pool(f"{name}-{group.name}", group, user_data, endpoint, child)
        endpoint.add_members(self.pools[CONTROL_PLANE_POOL].nodes)

        server = pulumi.Output.concat("https://", endpoint.public_address, f":{endpoint.port}")
        self.endpoint = pulumi.Output.from_input(endpoint.public_address)
        self.api_address = pulumi.Output.from_input(endpoint.private_address)
        self.api_port = endpoint.port
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(server, self.pki.ca_cert, self.pki.admin_cert, self.pki.admin_key).apply(
                lambda args: render_kubeconfig(cluster.name, *args)
            )
        )
        self.ready = ReadinessGate(
            f"{name}-ready",
            server=server,
            ca_cert=self.pki.ca_cert,
            client_cert=self.pki.admin_cert,
            client_key=self.pki.admin_key,
            timeout_seconds=cluster.readiness_timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.pools[CONTROL_PLANE_POOL]]),
        )
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
        self._manage_join_token(name)

        node_list: list[Node] = [node for pool in self.pools.values() for node in pool.nodes]
        self.nodes = pulumi.Output.all(*[node.private_address for node in node_list]).apply(
            lambda addresses: [
                {
                    "name": node.name,
                    "pool": node.pool,
                    "role": node.role,
                    "address": address,
                    "faultDomain": node.fault_domain,
                }
                for node, address in zip(node_list, addresses, strict=True)
            ]
        )
        self.register_outputs({"endpoint": self.endpoint, "kubeconfig": self.kubeconfig, "nodes": self.nodes})

    def _manage_join_token(self, name: str) -> None:
        """Keep the join token as a Pulumi-managed bootstrap-token Secret, so nodes added later join.

        ``kubeadm init`` creates the Secret (without expiry) so the first nodes can join at once; a
        provider that adopts existing objects takes it over. Replacing ``<cluster>-pki-token-secret``
        rotates the token: Pulumi deletes the old Secret and creates the new one.
        """
        adopter = k8s.Provider(
            f"{name}-kubernetes-adopt",
            kubeconfig=self.kubeconfig,
            upsert_existing_objects=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
        k8s.core.v1.Secret(
            f"{name}-join-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=pulumi.Output.concat("bootstrap-token-", self.pki.bootstrap_token_id),
                namespace="kube-system",
            ),
            type="bootstrap.kubernetes.io/token",
            string_data=pulumi.Output.secret(
                self.pki.bootstrap_token.apply(
                    lambda token: {
                        "token-id": token.split(".")[0],
                        "token-secret": token.split(".")[1],
                        "usage-bootstrap-authentication": "true",
                        "usage-bootstrap-signing": "true",
                        "auth-extra-groups": TOKEN_GROUP,
                        "description": TOKEN_DESCRIPTION,
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=adopter),
        )
