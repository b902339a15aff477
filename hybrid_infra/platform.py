"""HybridPlatform: the whole platform from one validated stack spec."""

from __future__ import annotations

import pulumi

from .cluster import KubernetesCluster
from .config import ConfigError, StackSpec, from_pulumi_config
from .platforms.base import Platform
from .platforms.openstack import OpenStackPlatform


class HybridPlatform(pulumi.ComponentResource):
    """Infrastructure on the stack's platform and the Kubernetes cluster on it."""

    endpoint: pulumi.Output[str]
    """Address of the Kubernetes API."""
    nodes: pulumi.Output[list[dict[str, str]]]
    """Every node of the cluster."""

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-infra:index:HybridPlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.spec = spec
        self.infrastructure = _platform(name, spec, child)
        self.cluster = KubernetesCluster(f"{name}-cluster", spec.cluster, self.infrastructure, child)
        self.endpoint = self.cluster.endpoint
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
    pulumi.export("nodes", platform.nodes)
    return platform
