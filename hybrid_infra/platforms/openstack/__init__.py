"""OpenStack: Neutron network and security groups, an Octavia or kube-vip API endpoint, Nova node
pools booting from Cinder volumes, and the OpenStack cloud controller manager with Cinder CSI.

The section's models build a ``hybrid-infra:openstack`` section in code (``OpenStackSpec`` and its
parts, checked with the cluster by ``hybrid_infra.stack_spec``).
Only ``infrastructure`` and the modules it imports need the SDK (``hybrid-infra[openstack]``):
``OpenStackInfrastructure`` is imported from there when a program first asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import (
    OpenStackChartsSpec,
    OpenStackCloudProviderSpec,
    OpenStackNetworkSpec,
    OpenStackSpec,
    OpenStackStorageClassSpec,
)

if TYPE_CHECKING:
    from .infrastructure import OpenStackInfrastructure


def __getattr__(name: str) -> Any:
    if name == "OpenStackInfrastructure":
        from .. import infrastructure_class

        return infrastructure_class("openstack")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OpenStackChartsSpec",
    "OpenStackCloudProviderSpec",
    "OpenStackInfrastructure",
    "OpenStackNetworkSpec",
    "OpenStackSpec",
    "OpenStackStorageClassSpec",
]
