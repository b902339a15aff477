"""The ``workloads`` section: containers and virtual machines, side by side on one cluster."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .errors import problem, raise_problems
from .fields import (
    Cidr,
    Count,
    DiskSource,
    DnsLabel,
    DnsSubdomain,
    HttpUrl,
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


_CHECKSUM = re.compile(r"^(md5:[0-9a-f]{32}|sha1:[0-9a-f]{40}|sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19}$")
Bus = Literal["virtio", "sata", "scsi"]
GuestOs = Literal["linux", "linux-legacy", "windows"]


def _checksum(value: str) -> str:
    # CDI v1.66.0 pkg/importer/checksum.go NewChecksumValidator: "algorithm:hash", md5, sha1, sha256, sha512.
    if not _CHECKSUM.match(value):
        raise problem(f"{value!r} is not allowed; use <algorithm>:<lowercase hex> with md5, sha1, sha256 or sha512")
    return value


def _mac_address(value: str) -> str:
    if not _MAC.match(value) or int(value[:2], 16) & 1:
        raise problem(f"{value!r} is not allowed; use six lowercase hex pairs joined by ':', a unicast address")
    return value


def _thumbprint(value: str) -> str:
    if not _THUMBPRINT.match(value):
        raise problem(f"{value!r} is not allowed; use the SHA-1 fingerprint: 20 hex pairs joined by ':'")
    return value


class VmPvcSourceSpec(Spec):
    """A copy of an existing PersistentVolumeClaim (a disk kept from an earlier VM, or uploaded before)."""

    name: DnsLabel
    namespace: DnsLabel | None = Field(None, description="default: the VM's")


class VmVddkCredentialsSpec(Spec):
    username: NonEmpty
    password: Secret


class VmVddkSourceSpec(Spec):
    """A VMware VM's disk, read from vCenter or ESXi through VMware's VDDK library (CDI's vddk source)."""

    url: HttpUrl = Field(description="https://<vCenter or ESXi>")
    uuid: NonEmpty = Field(description="the VM's BIOS UUID in vCenter")
    backing_file: NonEmpty = Field(description="the disk's file, e.g. '[datastore1] erp/erp.vmdk'")
    thumbprint: Annotated[str, BeforeValidator(strict_str), AfterValidator(_thumbprint)]
    credentials: VmVddkCredentialsSpec
    init_image: NonEmpty = Field(description="an image holding the VDDK library (VMware's license keeps it out of CDI)")


class VmDiskSpec(Spec):
    """Exactly one of source, pvc, upload: true and vddk says where the disk comes from."""

    source: DiskSource | None = Field(
        None, description="an http(s) URL of a qcow2, vmdk or raw image (optionally gz/xz), or docker://<image>"
    )
    cert_config_map: DnsLabel | None = Field(
        None, description="http(s) source: ConfigMap in the VM's namespace holding the CA of the server's certificate"
    )
    secret_ref: DnsLabel | None = Field(
        None, description="http(s) source: Secret in the VM's namespace with accessKeyId and secretKey (basic auth)"
    )
    checksum: Annotated[str, BeforeValidator(strict_str), AfterValidator(_checksum)] | None = Field(
        None, description="http(s) source: <algorithm>:<hex> the importer checks the download against"
    )
    pvc: VmPvcSourceSpec | None = Field(None, description="a copy of an existing PersistentVolumeClaim")
    upload: bool = Field(False, description="an empty disk that waits for `virtctl image-upload`")
    vddk: VmVddkSourceSpec | None = Field(None, description="a VMware VM's disk, through VMware's VDDK library")
    size: Annotated[str, BeforeValidator(strict_str), AfterValidator(quantity), AfterValidator(at_least("1Gi"))]
    storage_class: DnsLabel | None = Field(None, description="default: the cluster's default StorageClass")
    bus: Bus | None = Field(None, description="how the guest sees the disk; default: the guestOs preset's")

    @model_validator(mode="after")
    def _one_source(self) -> VmDiskSpec:
        given = [name for name in ("source", "pvc", "vddk") if getattr(self, name) is not None]
        given += ["upload"] if self.upload else []
        if len(given) != 1:
            raise problem(
                f"{' and '.join(given) or 'no source'} given; give exactly one of source (an http(s) or docker:// URL), "
                "pvc, upload: true and vddk"
            )
        http = self.source is not None and not self.source.startswith("docker://")
        for key, value in (("certConfigMap", self.cert_config_map), ("secretRef", self.secret_ref), ("checksum", self.checksum)):
            if value is not None and not http:
                raise problem(f"{value!r} is not allowed; {key} applies to an http(s) source", key=key)
        return self


class VmDataDiskSpec(VmDiskSpec):
    name: DnsLabel = Field(description="the disk's name in the VM; its DataVolume is <vm>-<name>")


class VmFirmwareSpec(Spec):
    type: Literal["bios", "efi"]
    secure_boot: bool = Field(False, description="UEFI Secure Boot (efi only)")


class VmReferenceSpec(Spec):
    """A KubeVirt instance type or preference, by name."""

    name: DnsSubdomain
    kind: Literal["cluster", "namespaced"] = "cluster"


class VmExposeSpec(Spec):
    """The VM's ports on a cloud load balancer, reachable from the given networks only."""

    allowed_cidrs: list[Cidr] = Field(min_length=1, description="client networks the load balancer admits")


class VirtualMachineSpec(Spec):
    """A legacy VM lifted and shifted: its disks imported into the cluster, then run by KubeVirt."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    guest_os: GuestOs = Field(
        "linux",
        description="preset of bus, firmware and NIC: linux (virtio, bios), linux-legacy (sata, bios, e1000e: "
        "an initramfs without virtio drivers), windows (sata, efi, e1000e, Hyper-V enlightenments)",
    )
    disk: VmDiskSpec = Field(description="the boot disk")
    data_disks: list[VmDataDiskSpec] = []
    firmware: VmFirmwareSpec | None = Field(None, description="default: the guestOs preset's")
    nic_model: Literal["virtio", "e1000e"] | None = Field(None, description="default: the guestOs preset's")
    mac_address: Annotated[str, BeforeValidator(strict_str), AfterValidator(_mac_address)] | None = Field(
        None, description="the pod network interface's MAC address, for a guest licensed or configured by it"
    )
    cpu: Int | None = Field(None, ge=1, le=256, description="cores; default 1, or the instancetype's")
    memory: Annotated[str, BeforeValidator(strict_str), AfterValidator(quantity), AfterValidator(at_least("128Mi"))] | None = (
        Field(None, description="required unless an instancetype gives it")
    )
    cpu_overcommit: Int = Field(
        1, ge=1, le=10, description="vCPUs per requested core: 1 requests a whole core per vCPU"
    )
    instancetype: VmReferenceSpec | None = Field(None, description="a KubeVirt instance type instead of cpu and memory")
    preference: VmReferenceSpec | None = Field(None, description="a KubeVirt preference (its devices and features)")
    run_strategy: Literal["Always", "RerunOnFailure", "Manual", "Halted"] = "Always"
    eviction_strategy: Literal["LiveMigrate", "LiveMigrateIfPossible", "External", "None"] | None = Field(
        None,
        description="what a node drain does to the VM; default LiveMigrate with ReadWriteMany storage, else "
        "LiveMigrateIfPossible",
    )
    user_data: Secret | None = Field(None, description="cloud-init user data for the guest (secret)")
    network_data: NonEmpty | None = Field(
        None, description="cloud-init network configuration (version 2) for a guest with static addresses"
    )
    ssh_keys: list[NonEmpty] = []
    ports: list[VmPortSpec] = []
    allow_from: list[DnsLabel] = Field(
        default=[], description="container apps whose pods may reach the VM's ports; none: every pod may"
    )
    expose: VmExposeSpec | None = Field(None, description="also a LoadBalancer Service for the ports")
    networks: list[DnsLabel] = Field(default=[], description="extra networks: Multus NetworkAttachmentDefinitions")
    delete_disks: bool = Field(
        False, description="pulumi destroy, and a rename, delete the VM's disks; by default they stay in the cluster"
    )
    import_timeout_minutes: Int = Field(240, ge=10, le=10080, description="how long pulumi up waits for each disk import")

    @field_validator("ports")
    @classmethod
    def _unique_ports(cls, ports: list[VmPortSpec]) -> list[VmPortSpec]:
        names = [port.name for port in ports]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise problem(f"{name!r} is not allowed; port names must be unique", key=f"[{index}].name")
        return ports

    @field_validator("data_disks")
    @classmethod
    def _unique_disks(cls, disks: list[VmDataDiskSpec]) -> list[VmDataDiskSpec]:
        names = [disk.name for disk in disks]
        for index, name in enumerate(names):
            if name in names[:index] or name in ("disk", "cloudinit"):
                raise problem(f"{name!r} is not allowed; disk names are unique and not disk or cloudinit", key=f"[{index}].name")
        return disks

    @model_validator(mode="after")
    def _combinations(self) -> VirtualMachineSpec:
        # What KubeVirt v1.9.0 refuses: an instance type beside the domain's own CPU and memory
        # (pkg/instancetype/apply: conflicts), Secure Boot without EFI and SMM (pkg/virt-api/webhooks
        # validating-webhook/admitters/vmi-create-admitter.go). Every problem at once.
        found: list[PydanticCustomError] = []
        if self.instancetype is not None:
            if self.cpu is not None:
                found.append(problem("not allowed together with instancetype, which sets the CPU", key="cpu"))
            if self.memory is not None:
                found.append(problem("not allowed together with instancetype, which sets the memory", key="memory"))
        elif self.memory is None:
            found.append(problem("missing; give memory (e.g. 4Gi), or an instancetype", key="memory"))
        if self.firmware is not None and self.firmware.secure_boot and self.firmware.type != "efi":
            found.append(
                problem("true is not allowed with firmware type bios; Secure Boot needs type: efi", key="firmware.secureBoot")
            )
        if self.disk.upload and self.run_strategy in ("Always", "RerunOnFailure"):
            found.append(
                problem(
                    f"{self.run_strategy!r} is not allowed with an upload source: the VM would start on an empty disk; "
                    "use Halted (start it with virtctl once the upload is done) or Manual",
                    key="runStrategy",
                )
            )
        if self.expose is not None and not self.ports:
            found.append(problem("not allowed without ports; list the ports to expose", key="expose"))
        raise_problems(found)
        return self

    @property
    def cores(self) -> int:
        return self.cpu or 1


class WorkloadsSpec(Spec):
    stack_key: ClassVar[str] = "workloads"

    containers: list[ContainerAppSpec] = []
    virtual_machines: list[VirtualMachineSpec] = []

