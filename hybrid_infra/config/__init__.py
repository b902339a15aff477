"""Typed stack configuration, split by owner: the only place raw configuration is read and checked.

``fields`` and ``errors`` serve every section; ``cluster``, ``addons`` and ``workloads`` are the
generic sections. This package knows no platform: :mod:`hybrid_infra.stack`, above it and the
platforms, assembles the whole stack with the platform sections the registry knows, and a program
checks the models it builds in code together with :func:`hybrid_infra.stack_spec`.
"""

from .addons import AddonsSpec
from .cluster import POOL_LABEL, ClusterSpec, ControlPlaneSpec, EndpointSpec, NetworkSpec, PoolSpec
from .errors import ConfigError, validate
from .fields import SecretOutput, secret_input
from .workloads import ContainerAppSpec, VirtualMachineSpec, WorkloadsSpec

__all__ = [
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
    "VirtualMachineSpec",
    "WorkloadsSpec",
    "secret_input",
    "validate",
]
