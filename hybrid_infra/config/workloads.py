"""The ``workloads`` section: containers and virtual machines, side by side on one cluster."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from .errors import problem
from .fields import (
    Count,
    DiskSource,
    DnsLabel,
    Int,
    NonEmpty,
    Port,
    Secret,
    Spec,
    at_least,
    dns_label,
    quantity,
    strict_str,
)


class ContainerAppSpec(Spec):
    """A stateless app in containers: a Deployment and its Service."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    image: NonEmpty
    replicas: Count = 2
    port: Port


def _port_name(value: str) -> str:
    if len(value) > 15:
        raise problem(f"{value!r} is not allowed; a port name has at most 15 characters")
    return value


class VmPortSpec(Spec):
    name: Annotated[str, BeforeValidator(strict_str), AfterValidator(dns_label), AfterValidator(_port_name)]
    port: Port
    protocol: Literal["TCP", "UDP"] = "TCP"


class VmDiskSpec(Spec):
    source: DiskSource
    size: Annotated[str, BeforeValidator(strict_str), AfterValidator(quantity), AfterValidator(at_least("1Gi"))]
    storage_class: DnsLabel | None = Field(None, description="default: the cluster's default StorageClass")


class VirtualMachineSpec(Spec):
    """A legacy VM lifted and shifted: its disk imported into the cluster, then run by KubeVirt."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    disk: VmDiskSpec
    cpu: Int = Field(1, ge=1, le=256)
    memory: Annotated[str, BeforeValidator(strict_str), AfterValidator(quantity), AfterValidator(at_least("128Mi"))]
    run_strategy: Literal["Always", "RerunOnFailure", "Manual", "Halted"] = "Always"
    user_data: Secret | None = Field(None, description="cloud-init user data for the guest (secret)")
    ssh_keys: list[NonEmpty] = []
    ports: list[VmPortSpec] = []
    allow_from: list[DnsLabel] = Field(
        default=[], description="container apps whose pods may reach the VM's ports; none: every pod may"
    )
    networks: list[DnsLabel] = Field(default=[], description="extra networks: Multus NetworkAttachmentDefinitions")

    @field_validator("ports")
    @classmethod
    def _unique_ports(cls, ports: list[VmPortSpec]) -> list[VmPortSpec]:
        names = [port.name for port in ports]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise problem(f"{name!r} is not allowed; port names must be unique", key=f"[{index}].name")
        return ports


class WorkloadsSpec(Spec):
    containers: list[ContainerAppSpec] = []
    virtual_machines: list[VirtualMachineSpec] = []

