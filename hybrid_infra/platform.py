"""HybridPlatform: the whole thing, from one validated stack spec."""

from __future__ import annotations

import pulumi

from .addons.cni import Cni
from .addons.openstack import OpenStackCloudProvider
from .cluster import KubernetesCluster
from .config import ConfigError, StackSpec, from_pulumi_config
from .platforms.base import Platform
from .platforms.openstack import OpenStackPlatform


class HybridPlatform(pulumi.ComponentResource):
    """Infrastructure on the stack's platform, the Kubernetes cluster on it, and its add-ons in order."""

    endpoint: pulumi.Output[str]
    """Address of the Kubernetes API."""
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig (secret)."""
    nodes: pulumi.Output[list[dict[str, str]]]
    """Every node of the cluster."""

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-infra:index:HybridPlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.spec = spec
        self.infrastructure = _platform(name, spec, child)
        self.cluster = KubernetesCluster(f"{name}-cluster", spec.cluster, self.infrastructure, child)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.cluster.provider)

        self.cni = Cni(
            f"{name}-cni", spec.cluster, spec.addons, self.cluster.api_address, self.cluster.api_port, on_cluster
        )
        if isinstance(self.infrastructure, OpenStackPlatform) and spec.openstack and spec.openstack.cloud_provider:
            self.cloud_provider = OpenStackCloudProvider(
                f"{name}-openstack",
                spec.cluster,
                spec.addons,
                spec.openstack,
                self.infrastructure.network.subnet_id,
                self.infrastructure.network.external_network_id,
                pulumi.ResourceOptions(parent=self, provider=self.cluster.provider, depends_on=[self.cni]),
            )
        self.endpoint = self.cluster.endpoint
        self.kubeconfig = self.cluster.kubeconfig
        self.nodes = self.cluster.nodes
        self.register_outputs({"endpoint": self.endpoint, "nodes": self.nodes})


def _platform(name: str, spec: StackSpec, opts: pulumi.ResourceOptions) -> Platform:
    if spec.openstack is not None:
        return OpenStackPlatform(f"{name}-openstack", spec.cluster, spec.openstack, opts)
    raise AssertionError(f"no platform section in a validated spec: {spec.platform}")


def program() -> HybridPlatform:
    """The Pulumi program of this project: what ``pulumi up`` and ``hybrid-infra plan`` run."""
    try:
        spec = from_pulumi_config()
    except ConfigError as error:
        raise pulumi.RunError("invalid stack configuration:\n" + str(error)) from None
    platform = HybridPlatform(spec.cluster.name, spec)
    pulumi.export("platform", spec.platform)
    pulumi.export("kubernetesVersion", spec.cluster.kubernetes_version)
    pulumi.export("endpoint", platform.endpoint)
    pulumi.export("kubeconfig", platform.kubeconfig)
    pulumi.export("nodes", platform.nodes)
    return platform
