"""hybrid-infra: Kubernetes on virtual machines, and virtual machines on that Kubernetes.

The platform-free components are here; each platform's components live in its package under
``hybrid_infra.platforms`` (imported only where used, as its SDK is an optional extra).

Importing the package, or any module a program imports, changes nothing in the interpreter: Python's
collector and the Pulumi SDK stay as they are. Only the offline runtime changes them
(:data:`hybrid_infra.offline.simulate.offline_runtime`), while ``hybrid-infra plan``, the bench or a
test that opts in runs it (``tests/test_import_state.py``).
"""

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
    VirtualMachineSpec,
    WorkloadsSpec,
)
from .platform import HybridPlatform
from .platforms.contract import ApiEndpoint, Infrastructure, Node, NodePool, PlatformSection
from .readiness import ReadinessGate, UpgradeGate
from .stack import StackSpec, from_pulumi_config, parse_stack_config, stack_spec
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
    "from_pulumi_config",
    "parse_stack_config",
    "stack_spec",
]
