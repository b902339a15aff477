"""AWS: a VPC with private and public subnets over several zones (or one reused), security groups per
role, Network Load Balancers for the API, EC2 node pools with nested virtualization where VMs run, and
the AWS cloud controller manager with the EBS CSI driver.

Only ``infrastructure`` and the modules it imports need the SDK (``hybrid-infra[aws]``).
The section's models build a ``hybrid-infra:aws`` section in code (``AwsSpec`` and its parts,
checked with the cluster by ``hybrid_infra.stack_spec``); ``AwsInfrastructure`` is imported from
``infrastructure`` when a program first asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import AwsChartsSpec, AwsImageSpec, AwsNetworkSpec, AwsSpec

if TYPE_CHECKING:
    from .infrastructure import AwsInfrastructure


def __getattr__(name: str) -> Any:
    if name == "AwsInfrastructure":
        from .. import infrastructure_class

        return infrastructure_class("aws")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AwsChartsSpec", "AwsImageSpec", "AwsInfrastructure", "AwsNetworkSpec", "AwsSpec"]
