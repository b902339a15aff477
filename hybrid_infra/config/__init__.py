"""Typed stack configuration, split by owner: the only place raw configuration is read and checked.

``fields`` and ``errors`` serve every section; ``cluster``, ``addons`` and ``workloads`` are the
generic sections; ``stack`` assembles them with the platform sections the registry knows. A program
builds the same models in code and checks them together with :func:`stack_spec`.
"""

from .addons import AddonsSpec
from .cluster import POOL_LABEL, ClusterSpec, ControlPlaneSpec, EndpointSpec, NetworkSpec, PoolSpec
from .errors import ConfigError, validate
from .fields import SecretOutput, secret_input
from .stack import NAMESPACE, StackSpec, from_pulumi_config, parse_stack_config, stack_spec
from .workloads import ContainerAppSpec, VirtualMachineSpec, WorkloadsSpec

__all__ = [
    "NAMESPACE",
    "POOL_LABEL",
    "AddonsSpec",
    "ClusterSpec",
    "ConfigError",
    "ContainerAppSpec",
    "ControlPlaneSpec",
    "EndpointSpec",
    "NetworkSpec",
    "PoolSpec",
    "SecretOutput",
    "StackSpec",
    "VirtualMachineSpec",
    "WorkloadsSpec",
    "from_pulumi_config",
    "parse_stack_config",
    "secret_input",
    "stack_spec",
    "validate",
]
