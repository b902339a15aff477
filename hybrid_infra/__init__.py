"""hybrid-infra: Kubernetes on virtual machines, and virtual machines on that Kubernetes.

The platform-free components are here; each platform's components live in its package under
``hybrid_infra.platforms`` (imported only where used, as its SDK is an optional extra).
"""

from .collector import pause as _pause_collector

# Importing the components, and the Pulumi and provider SDKs under them, makes tens of thousands of
# long-lived objects: without the collector's pause, hundreds of collections that free next to
# nothing (see hybrid_infra.collector).
with _pause_collector():
    from .addons.cdi import Cdi
    from .addons.cni import Cni
    from .addons.kubevirt import KubeVirt
    from .addons.metadata import MetadataPolicy
    from .addons.multus import Multus
    from .addons.storage import DefaultStorageClass
    from .addons.upgrades import SystemUpgrade, VersionGuard
    from .bootstrap.pki import ClusterPki
    from .cluster import KubernetesCluster
    from .config import (
        POOL_LABEL,
        AddonsSpec,
        ClusterSpec,
        ConfigError,
        ContainerAppSpec,
        ControlPlaneSpec,
        EndpointSpec,
        NetworkSpec,
        PoolSpec,
        StackSpec,
        VirtualMachineSpec,
        WorkloadsSpec,
        parse_stack_config,
        stack_spec,
    )
    from .platform import HybridPlatform
    from .platforms.contract import ApiEndpoint, Infrastructure, Node, NodePool, PlatformSection
    from .readiness import ReadinessGate, UpgradeGate
    from .topology import NodeGroup, PlatformHints
    from .workloads import ContainerApp, VirtualMachine

__all__ = [
    "POOL_LABEL",
    "AddonsSpec",
    "ApiEndpoint",
    "Cdi",
    "ClusterPki",
    "ClusterSpec",
    "Cni",
    "ConfigError",
    "ContainerApp",
    "ContainerAppSpec",
    "ControlPlaneSpec",
    "DefaultStorageClass",
    "EndpointSpec",
    "HybridPlatform",
    "Infrastructure",
    "KubeVirt",
    "KubernetesCluster",
    "MetadataPolicy",
    "Multus",
    "NetworkSpec",
    "Node",
    "NodeGroup",
    "NodePool",
    "PlatformHints",
    "PlatformSection",
    "PoolSpec",
    "ReadinessGate",
    "StackSpec",
    "SystemUpgrade",
    "UpgradeGate",
    "VersionGuard",
    "VirtualMachine",
    "VirtualMachineSpec",
    "WorkloadsSpec",
    "parse_stack_config",
    "stack_spec",
]
