"""KubernetesCluster: PKI, API endpoint and node pools on any platform, bootstrapped without SSH."""

from __future__ import annotations

import operator
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from .bootstrap.cloudinit import NodeBootstrap, render_cloud_config
from .bootstrap.kubeadm import TOKEN_DESCRIPTION, TOKEN_GROUP, ClusterEndpoint
from .bootstrap.kubeconfig import render_kubeconfig
from .bootstrap.pki import ClusterPki, PkiMaterial
from .config.cluster import CONTROL_PLANE_POOL, ClusterSpec
from .platforms.contract import ApiEndpoint, Infrastructure, Node, NodePool
from .readiness import ReadinessGate
from .topology import NodeGroup, node_groups


def _cloud_configs(
    cluster: ClusterSpec,
    placed: list[tuple[NodeGroup, Infrastructure]],
    endpoint: ApiEndpoint,
    private_address: str,
    public_address: str,
    pki: PkiMaterial,
) -> dict[str, str]:
    """Every node's cloud-config by node name."""
    address = ClusterEndpoint(private_address, public_address, endpoint.port, announce=endpoint.virtual_ip is not None)
    return {
        group.node_name(index): render_cloud_config(NodeBootstrap(cluster, group, index, address, platform.hints), pki)
        for group, platform in placed
        for index in range(group.count)
    }


def _infrastructure_of(group: NodeGroup, platforms: Mapping[str, Infrastructure]) -> Infrastructure:
    if group.platform is not None:
        return platforms[group.platform]
    if len(platforms) != 1:
        raise ValueError(f"pool {group.name!r} names no platform, and {len(platforms)} are given: {', '.join(platforms)}")
    return next(iter(platforms.values()))


def _token_secret_data(token: str, expiration: str) -> dict[str, str]:
    token_id, token_secret = token.split(".")
    return {
        "token-id": token_id,
        "token-secret": token_secret,
        # An absolute UTC time in RFC 3339 (cluster-bootstrap token/api BootstrapTokenExpirationKey).
        "expiration": expiration,
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": TOKEN_GROUP,
        "description": TOKEN_DESCRIPTION,
    }


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
    user_data: pulumi.Output[dict[str, str]]
    """Every node's cloud-config by node name (secret: it carries the join token and CA keys)."""
    provider: k8s.Provider
    """Kubernetes provider for the new cluster; usable once the API answers /readyz."""
    ready: ReadinessGate
    """Exists once the API answers; add-ons depend on it through ``provider``."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        infrastructure: Infrastructure | Mapping[str, Infrastructure],
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``infrastructure``: the platform every pool runs on, or one per platform name that pools choose."""
        super().__init__("hybrid-infra:index:KubernetesCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        platforms = {infrastructure.platform: infrastructure} if isinstance(infrastructure, Infrastructure) else dict(infrastructure)
        groups = node_groups(cluster)
        self.pki = ClusterPki(f"{name}-pki", cluster, child)
        control_plane = _infrastructure_of(groups[0], platforms)
        endpoint = control_plane.create_endpoint(f"{name}-endpoint")

        placed = [(group, _infrastructure_of(group, platforms)) for group in groups]
        # Rendered together, once the endpoint's addresses and the PKI exist; each node's is looked up
        # in the whole: one Output per node. Secret: every cloud-config carries the join token, and on
        # control-plane nodes the CA keys.
        self.user_data = pulumi.Output.secret(
            pulumi.Output.all(endpoint.private_address, endpoint.public_address, self.pki.material).apply(
                lambda args: _cloud_configs(cluster, placed, endpoint, *args)
            )
        )
        self.pools: dict[str, NodePool] = {}
        for group, platform in placed:
            configs = [self.user_data.apply(operator.itemgetter(node)) for node in group.node_names]
            self.pools[group.name] = platform.create_node_pool(f"{name}-{group.name}", group, configs, endpoint)
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
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "apiAddress": self.api_address,
                "apiPort": self.api_port,
                "kubeconfig": self.kubeconfig,
                "nodes": self.nodes,
                "userData": self.user_data,
            }
        )

    def _manage_join_token(self, name: str) -> None:
        """Keep the join token as a Pulumi-managed bootstrap-token Secret that expires.

        ``kubeadm init`` creates the first token's Secret (with ``cluster.joinTokenTtlMinutes``), so
        the first nodes join at once; a provider that adopts existing objects takes it over. When the
        set of nodes changes, the PKI issues a new token: Pulumi creates its Secret, with a new
        expiry, for the new nodes, and deletes the old one. Kubernetes' token cleaner deletes an
        expired Secret by itself; a `pulumi up` that changes no node changes no token.
        """
        adopter = k8s.Provider(
            f"{name}-kubernetes-adopt",
            kubeconfig=self.kubeconfig,
            upsert_existing_objects=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
        token_data: pulumi.Output[dict[str, str]] = pulumi.Output.secret(
            pulumi.Output.all(self.pki.bootstrap_token, self.pki.bootstrap_token_expiration).apply(
                lambda args: _token_secret_data(*args)
            )
        )
        k8s.core.v1.Secret(
            f"{name}-join-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=pulumi.Output.concat("bootstrap-token-", self.pki.bootstrap_token_id),
                namespace="kube-system",
            ),
            type="bootstrap.kubernetes.io/token",
            string_data=token_data,
            opts=pulumi.ResourceOptions(parent=self, provider=adopter),
        )
