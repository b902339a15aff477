"""hybrid-infra: Kubernetes on virtual machines, and virtual machines on that Kubernetes."""

from .addons.cdi import Cdi
from .addons.cni import Cni
from .addons.kubevirt import KubeVirt
from .addons.multus import Multus
from .addons.openstack import OpenStackCloudProvider
from .addons.storage import DefaultStorageClass
from .bootstrap.pki import ClusterPki
from .cluster import KubernetesCluster
from .config import ConfigError, StackSpec, parse_stack_config
from .platform import HybridPlatform
from .platforms.base import Node, NodeGroup, PlatformHints
from .platforms.openstack import (
    OpenStackApiEndpoint,
    OpenStackNetwork,
    OpenStackNodePool,
    OpenStackPlatform,
)
from .readiness import ReadinessGate
from .workloads import ContainerApp, VirtualMachine

__all__ = [
    "Cdi",
    "ClusterPki",
    "Cni",
    "ConfigError",
    "ContainerApp",
    "DefaultStorageClass",
    "HybridPlatform",
    "KubeVirt",
    "KubernetesCluster",
    "Multus",
    "Node",
    "NodeGroup",
    "OpenStackApiEndpoint",
    "OpenStackCloudProvider",
    "OpenStackNetwork",
    "OpenStackNodePool",
    "OpenStackPlatform",
    "PlatformHints",
    "ReadinessGate",
    "StackSpec",
    "VirtualMachine",
    "parse_stack_config",
]
