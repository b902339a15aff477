"""KubernetesCluster: PKI, API endpoint and node pools on any platform, bootstrapped without SSH."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .bootstrap.cloudinit import NodeBootstrap, control_plane_keys, render_cloud_config
from .bootstrap.kubeadm import TOKEN_DESCRIPTION, TOKEN_GROUP, ClusterEndpoint
from .bootstrap.kubeconfig import render_kubeconfig
from .bootstrap.pki import ClusterPki, PkiMaterial
from .bootstrap.sizes import user_data_problems
from .config.cluster import CONTROL_PLANE_POOL, ClusterSpec, PoolSpec
from .config.errors import ConfigError, ConfigRunError, validate
from .config.versions import end_of_life_warning
from .outputs import all_computed, computed
from .platforms.contract import ApiEndpoint, Infrastructure, Node, NodePool
from .readiness import ClusterRecord, ReadinessGate
from .topology import NodeGroup, PlatformHints, node_groups


def _cloud_config(
    cluster: ClusterSpec,
    group: NodeGroup,
    index: int,
    endpoint: ApiEndpoint,
    addresses: pulumi.Output[list[str]],
    hints: PlatformHints,
    material: pulumi.Output[PkiMaterial],
    token: pulumi.Output[str],
    initialised: pulumi.Output[bool],
) -> pulumi.Output[str]:
    """``addresses``: the endpoint's private and public address. ``initialised``: the cluster record's
    answer. Only the first control-plane node's rendering depends on it, but every node waits for it,
    so that the nodes still register in the program's order."""

    def render(args: list[Any]) -> str:
        (private, public), pki, node_token, exists = args
        address = ClusterEndpoint(private, public, endpoint.port, announce=endpoint.virtual_ip is not None)
        node = NodeBootstrap(cluster, group, index, address, hints, initialised=bool(exists))
        try:
            return render_cloud_config(node, replace(pki, bootstrap_token=node_token))
        except ConfigError as error:  # what user_data_problems could not foresee: a longer endpoint name
            raise ConfigRunError(error.problems) from None

    # Every cloud-config carries the node's join token, and on control-plane nodes the CA keys.
    return pulumi.Output.secret(pulumi.Output.all(addresses, material, token, initialised).apply(render))


def _infrastructure_of(group: NodeGroup, platforms: Mapping[str, Infrastructure[Any]]) -> Infrastructure[Any]:
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
    server: pulumi.Output[str]
    """``https://<endpoint>:<port>``: the API as clients outside the node network reach it."""
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig built from the PKI (secret)."""
    nodes: pulumi.Output[list[dict[str, str]]]
    """Every node: name, pool, role, private address and fault domain."""
    user_data: pulumi.Output[dict[str, str]]
    """Every node's cloud-config by node name (secret: it carries the join token and CA keys)."""
    machines: pulumi.Output[dict[str, str]]
    """The URN of every node's VM resource, by node name: what `pulumi up --replace` renews."""
    provider: k8s.Provider
    """Kubernetes provider for the new cluster; usable once the API answers /readyz."""
    record: ClusterRecord
    """Whether the cluster has ever answered, kept in state: the first control-plane node initialises
    only while it has not."""
    ready: ReadinessGate
    """Exists once the API answers; add-ons depend on it through ``provider``."""
    adopting_provider: k8s.Provider
    """Kubernetes provider that takes over objects which already exist (the first node's join token
    ``kubeadm init`` made; CRDs an earlier chart installed outside its release)."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        infrastructure: Infrastructure[Any] | Mapping[str, Infrastructure[Any]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``infrastructure``: the platform every pool runs on, or one per platform name that pools choose."""
        # Before anything of the cluster is registered: every pool whose cloud-configs would not fit.
        chosen = {infrastructure.platform: infrastructure} if isinstance(infrastructure, Infrastructure) else infrastructure
        problems = user_data_problems(
            cluster, {group.name: _infrastructure_of(group, chosen).hints for group in node_groups(cluster)}
        )
        if problems:
            raise ConfigError(problems)
        super().__init__("hybrid-infra:index:KubernetesCluster", name, None, opts)
        ended = end_of_life_warning(cluster.kubernetes_version, datetime.date.today())
        if ended:
            pulumi.log.warn(ended, self)
        child = pulumi.ResourceOptions(parent=self)
        platforms = {infrastructure.platform: infrastructure} if isinstance(infrastructure, Infrastructure) else dict(infrastructure)
        groups = node_groups(cluster)
        self.pki = ClusterPki(f"{name}-pki", cluster, child)
        control_plane = _infrastructure_of(groups[0], platforms)
        endpoint = control_plane.create_endpoint(f"{name}-endpoint")
        # What the platform computed, checked once before anything renders with it.
        private_address, public_address = computed(endpoint.private_address), computed(endpoint.public_address)
        addresses = pulumi.Output.all(private_address, public_address)
        server = pulumi.Output.concat("https://", public_address, f":{endpoint.port}")
        # How the record and the readiness gate reach the API: as the admin, through the public endpoint.
        admin = {"server": server, "ca_cert": self.pki.ca_cert, "client_cert": self.pki.admin_cert, "client_key": self.pki.admin_key}
        self.record = ClusterRecord(f"{name}-record", **admin, opts=child)

        # Where the platform keeps the keys itself, the nodes boot once they are stored.
        keys_stored: pulumi.Output[str] | None = None
        if control_plane.hints.key_fetch is not None:
            keys_stored = control_plane.store_control_plane_keys(
                f"{name}-keys", pulumi.Output.secret(self.pki.material.apply(control_plane_keys))
            )

        self._name, self._spec, self._platforms = name, cluster, platforms
        self._endpoint, self._addresses, self._keys_stored = endpoint, addresses, keys_stored
        self.pools: dict[str, NodePool] = {}
        user_data: dict[str, pulumi.Output[str]] = {}
        for group in groups:
            user_data.update(self._create_pool(group, cluster))
        endpoint.add_members(self.pools[CONTROL_PLANE_POOL].nodes)
        self.user_data = pulumi.Output.secret(pulumi.Output.all(**user_data))

        self.server = server
        self.endpoint = public_address
        self.api_address = private_address
        self.api_port = endpoint.port
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(server, self.pki.ca_cert, self.pki.admin_cert, self.pki.admin_key).apply(
                lambda args: render_kubeconfig(cluster.name, *args)
            )
        )
        self.ready = ReadinessGate(
            f"{name}-ready",
            **admin,
            timeout_seconds=cluster.readiness_timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.pools[CONTROL_PLANE_POOL]]),
        )
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
        self.adopting_provider = k8s.Provider(
            f"{name}-kubernetes-adopt",
            kubeconfig=self.kubeconfig,
            upsert_existing_objects=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
        self._manage_join_tokens(name)

        node_list: list[Node] = [node for pool in self.pools.values() for node in pool.nodes]
        self.nodes = all_computed(*[node.private_address for node in node_list]).apply(
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
        self.machines = pulumi.Output.all(**{node.name: node.machine.urn for node in node_list})
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "apiAddress": self.api_address,
                "apiPort": self.api_port,
                "kubeconfig": self.kubeconfig,
                "nodes": self.nodes,
                "userData": self.user_data,
                "machines": self.machines,
            }
        )

    def _create_pool(self, group: NodeGroup, cluster: ClusterSpec) -> dict[str, pulumi.Output[str]]:
        """The group's node pool, each node booting with its own cloud-config; the cloud-configs by node."""
        platform = _infrastructure_of(group, self._platforms)
        configs: list[pulumi.Output[str]] = [
            _cloud_config(
                cluster,
                group,
                index,
                self._endpoint,
                self._addresses,
                platform.hints,
                self.pki.material,
                self.pki.join_tokens[node].token,
                self.record.initialised,
            )
            for index, node in enumerate(group.node_names)
        ]
        keys_stored = self._keys_stored
        if keys_stored is not None:
            # Workers wait too, as for the record: the nodes still register in the program's order.
            configs = [pulumi.Output.all(config, keys_stored).apply(lambda both: str(both[0])) for config in configs]
        self.pools[group.name] = platform.create_node_pool(f"{self._name}-{group.name}", group, configs, self._endpoint)
        return dict(zip(group.node_names, configs, strict=True))

    def add_pool(self, pool: PoolSpec | dict[str, Any]) -> NodePool:
        """A worker pool joined to this cluster from a program, beside the pools its spec lists: its nodes
        boot as theirs do (the same rendering, a join token of their own, created when the node is), on
        the platform ``pool.platform`` names or the only one. :class:`ConfigError` before anything is
        registered when its name is taken or its cloud-configs do not fit the platform's user data.

        The cluster's outputs (``nodes``, ``userData``, ``machines``) are registered already and list the
        spec's nodes alone, as do ``HybridPlatform``'s upgrade gate and ``hybrid-infra rollout``."""
        checked: PoolSpec = validate(PoolSpec, pool, path="pool")
        if checked.name in self.pools:
            raise ConfigError([f"pool.name: {checked.name!r} is not allowed; the cluster has a pool of that name"])
        cluster = self._spec.model_copy(update={"pools": [*self._spec.pools, checked]})
        group = NodeGroup.workers(cluster, checked)
        hints = {each.name: _infrastructure_of(each, self._platforms).hints for each in node_groups(cluster)}
        problems = user_data_problems(cluster, hints)
        if problems:
            raise ConfigError(problems)
        self.pki.add_join_tokens(group)
        self._create_pool(group, cluster)
        for node in group.node_names:
            self._join_token_secret(self._name, node)
        return self.pools[group.name]

    def _manage_join_tokens(self, name: str) -> None:
        """Keep every node's join token as a Pulumi-managed bootstrap-token Secret that expires.

        ``kubeadm init`` creates the first control-plane node's token (with
        ``cluster.joinTokenTtlMinutes``); a provider that adopts existing objects takes it over. The
        other nodes' Secrets are created once the API answers, and those nodes retry their join until
        then. A node added later brings a token of its own; Kubernetes' token cleaner deletes an
        expired Secret by itself, and a `pulumi up` that adds no node changes no token.
        """
        for node in self.pki.join_tokens:
            self._join_token_secret(name, node)

    def _join_token_secret(self, name: str, node: str) -> None:
        token = self.pki.join_tokens[node]
        token_data: pulumi.Output[dict[str, str]] = pulumi.Output.secret(
            pulumi.Output.all(token.token, token.expiration).apply(lambda args: _token_secret_data(*args))
        )
        k8s.core.v1.Secret(
            f"{name}-join-token-{node}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=pulumi.Output.concat("bootstrap-token-", token.token_id), namespace="kube-system"
            ),
            type="bootstrap.kubernetes.io/token",
            string_data=token_data,
            opts=pulumi.ResourceOptions(parent=self, provider=self.adopting_provider),
        )
