"""vSphere: node pools cloned from a template with cloud-init through guestinfo, a kube-vip (or
external load balancer) API endpoint, DRS anti-affinity for the control plane, and the vSphere cloud
provider (CPI) with the vSphere CSI driver.

The section's models build a ``hybrid-infra:vsphere`` section in code (``VSphereSpec`` and its
parts, checked with the cluster by ``hybrid_infra.stack_spec``). Only ``infrastructure`` and the
modules it imports need the SDK (``hybrid-infra[vsphere]``): ``VSphereInfrastructure`` is imported
from there when a program first asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import (
    VSphereAntiAffinitySpec,
    VSphereChartsSpec,
    VSphereCloudProviderSpec,
    VSphereCsiDriverSpec,
    VSphereEndpointSpec,
    VSphereNetworkSpec,
    VSphereSize,
    VSphereSpec,
    VSphereStaticSpec,
    VSphereStorageClassSpec,
)

if TYPE_CHECKING:
    from .infrastructure import VSphereInfrastructure


def __getattr__(name: str) -> Any:
    if name == "VSphereInfrastructure":
        from .. import infrastructure_class

        return infrastructure_class("vsphere")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "VSphereAntiAffinitySpec",
    "VSphereChartsSpec",
    "VSphereCloudProviderSpec",
    "VSphereCsiDriverSpec",
    "VSphereEndpointSpec",
    "VSphereInfrastructure",
    "VSphereNetworkSpec",
    "VSphereSize",
    "VSphereSpec",
    "VSphereStaticSpec",
    "VSphereStorageClassSpec",
]
