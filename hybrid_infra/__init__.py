"""hybrid-infra: Kubernetes on virtual machines, and virtual machines on that Kubernetes."""

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

__all__ = [
    "ConfigError",
    "HybridPlatform",
    "KubernetesCluster",
    "Node",
    "NodeGroup",
    "OpenStackApiEndpoint",
    "OpenStackNetwork",
    "OpenStackNodePool",
    "OpenStackPlatform",
    "PlatformHints",
    "StackSpec",
    "parse_stack_config",
]
