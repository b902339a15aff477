"""VirtualMachine: lift and shift one legacy VM. Its disk is imported by CDI into the cluster's
storage, KubeVirt runs it beside the pods, and a Service exposes the ports it serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from ..addons.placement import on_virtualization_pools
from ..config.cluster import ClusterSpec
from ..config.errors import validate
from ..config.fields import secret_input
from ..config.workloads import (
    Bus,
    ContainerAppSpec,
    VirtualMachineSpec,
    VmDataDiskSpec,
    VmDiskSpec,
    VmReferenceSpec,
)
from ..objects import child_options, create_object
from .apps import service
from .labels import NAME_LABEL, selector, workload_labels

DISK_VOLUME = "disk"
CLOUD_INIT_VOLUME = "cloudinit"
POD_NETWORK = "default"
EMPTY_CLOUD_CONFIG = "#cloud-config\n{}\n"
SSH_PORT = 22
VIRT_API_NAMESPACE, VIRT_API_LABELS = "kubevirt", {"kubevirt.io": "virt-api"}
"""Where virtctl's ssh and port-forward reach the VM from: KubeVirt's virt-api pods."""
RUNNING = ("Always", "RerunOnFailure")
KEEP_CLAIM = {"pulumi.com/deletionPropagationPolicy": "orphan"}
"""How Pulumi deletes a kept disk's DataVolume (pulumi-kubernetes' ``deletionPropagationPolicy``, since
v4.12.0; provider/pkg/metadata/overrides.go at v4.29.0): the API server orphans what the DataVolume owns,
its PersistentVolumeClaim, so the disk stays in the cluster, owned by nothing, when the DataVolume goes.
Kept in Pulumi's state instead (``retainOnDelete``), the DataVolumes would make `pulumi destroy` fail:
CDI's uninstall guard refuses to delete the CDI resource while any DataVolume exists
(pkg/apiserver/webhooks/cdi-validate.go at v1.66.0, with ``BlockUninstallIfWorkloadsExist``)."""


@dataclass(frozen=True)
class GuestPreset:
    bus: Bus
    firmware: str
    nic_model: str
    hyperv: bool


PRESETS: dict[str, GuestPreset] = {
    "linux": GuestPreset("virtio", "bios", "virtio", False),
    # An initramfs built for the old host holds no virtio drivers: SATA and an Intel NIC it knows.
    "linux-legacy": GuestPreset("sata", "bios", "e1000e", False),
    # Windows has no virtio drivers of its own (0x7B on a virtio disk); 2016 and later install UEFI by default.
    "windows": GuestPreset("sata", "efi", "e1000e", True),
}
HYPERV_FEATURES: dict[str, Any] = {
    "relaxed": {},
    "vapic": {},
    "spinlocks": {"spinlocks": 8191},
    "vpindex": {},
    "synic": {},
    "synictimer": {"direct": {}},
    "tlbflush": {},
    "frequencies": {},
    "reenlightenment": {},
    "ipi": {},
    "runtime": {},
    "reset": {},
}
"""The Hyper-V enlightenments Windows guests run best with, each with what it needs beside it
(synictimer needs synic, which needs vpindex: KubeVirt v1.9.0 validates these dependencies)."""
WINDOWS_CLOCK: dict[str, Any] = {
    "utc": {},
    "timer": {"hpet": {"present": False}, "pit": {"tickPolicy": "delay"}, "rtc": {"tickPolicy": "catchup"}, "hyperv": {}},
}


def disk_name(vm: VirtualMachineSpec, disk: VmDataDiskSpec | None = None) -> str:
    """The DataVolume (and PVC) of the boot disk, ``<vm>-disk``, or of a data disk, ``<vm>-<name>``."""
    return f"{vm.name}-disk" if disk is None else f"{vm.name}-{disk.name}"


def cloud_init_secret_name(vm: VirtualMachineSpec) -> str:
    return f"{vm.name}-cloud-init"


def ssh_keys_secret_name(vm: VirtualMachineSpec) -> str:
    return f"{vm.name}-ssh-keys"


def vddk_secret_name(vm: VirtualMachineSpec, disk: VmDataDiskSpec | None = None) -> str:
    return f"{disk_name(vm, disk)}-vddk"


def data_volume_source(vm: VirtualMachineSpec, disk: VmDiskSpec, data_disk: VmDataDiskSpec | None = None) -> dict[str, Any]:
    """CDI v1.66.0's DataVolumeSource for the disk's source."""
    if disk.pvc is not None:
        return {"pvc": {"name": disk.pvc.name, "namespace": disk.pvc.namespace or vm.namespace}}
    if disk.upload:
        return {"upload": {}}
    if disk.vddk is not None:
        vddk = disk.vddk
        return {
            "vddk": {
                "url": vddk.url,
                "uuid": vddk.uuid,
                "backingFile": vddk.backing_file,
                "thumbprint": vddk.thumbprint,
                "secretRef": vddk_secret_name(vm, data_disk),
                "initImageURL": vddk.init_image,
            }
        }
    assert disk.source is not None
    if disk.source.startswith("docker://"):
        return {"registry": {"url": disk.source}}
    http: dict[str, Any] = {"url": disk.source}
    for key, value in (("certConfigMap", disk.cert_config_map), ("secretRef", disk.secret_ref), ("checksum", disk.checksum)):
        if value is not None:
            http[key] = value
    return {"http": http}


def data_volume(
    vm: VirtualMachineSpec,
    disk: VmDiskSpec,
    data_disk: VmDataDiskSpec | None = None,
    read_write_many: bool = False,
    disk_class: str | None = None,
) -> dict[str, Any]:
    """The disk as a DataVolume of its own (not a template the VM owns, which goes with the VM). Bound at
    once (CDI's ``storage.bind.immediate.requested``): with a WaitForFirstConsumer class the importer is the
    first consumer, so the import runs before the VM exists. `pulumi up` waits until it has succeeded, or,
    for an upload, until it is ready to receive.

    Its StorageClass: the disk's own; else ``disk_class`` (a class that retains its volumes) unless the VM's
    disks go with it (``deleteDisks``); else the cluster's default."""
    storage: dict[str, Any] = {"resources": {"requests": {"storage": disk.size}}}
    if read_write_many:
        storage.update({"accessModes": ["ReadWriteMany"], "volumeMode": "Block"})
    chosen = disk.storage_class or (None if vm.delete_disks else disk_class)
    if chosen:
        storage["storageClassName"] = chosen
    phase = "UploadReady" if disk.upload else "Succeeded"
    kept = {} if vm.delete_disks else dict(KEEP_CLAIM)
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {
            "name": disk_name(vm, data_disk),
            "namespace": vm.namespace,
            "labels": workload_labels(vm.name),
            "annotations": {
                "cdi.kubevirt.io/storage.bind.immediate.requested": "true",
                "pulumi.com/waitFor": f"jsonpath={{.status.phase}}={phase}",
                "pulumi.com/timeoutSeconds": str(vm.import_timeout_minutes * 60),
                **kept,
            },
        },
        "spec": {"source": data_volume_source(vm, disk, data_disk), "storage": storage},
    }


def _bus(vm: VirtualMachineSpec, disk: VmDiskSpec) -> str:
    return disk.bus or PRESETS[vm.guest_os].bus


def virtual_machine(vm: VirtualMachineSpec, cluster: ClusterSpec, read_write_many: bool = False) -> dict[str, Any]:
    """``read_write_many``: the storage attaches to two nodes at once, so the VM can live-migrate."""
    preset = PRESETS[vm.guest_os]
    boot_bus = _bus(vm, vm.disk)
    disks: list[dict[str, Any]] = [{"name": DISK_VOLUME, "disk": {"bus": boot_bus}, "bootOrder": 1}]
    volumes: list[dict[str, Any]] = [{"name": DISK_VOLUME, "dataVolume": {"name": disk_name(vm)}}]
    for data_disk in vm.data_disks:
        disks.append({"name": data_disk.name, "disk": {"bus": _bus(vm, data_disk)}})
        volumes.append({"name": data_disk.name, "dataVolume": {"name": disk_name(vm, data_disk)}})
    if needs_cloud_init(vm):
        # The guest must read it with the drivers it has: on the boot disk's bus.
        disks.append({"name": CLOUD_INIT_VOLUME, "disk": {"bus": boot_bus}})
        no_cloud: dict[str, Any] = {"secretRef": {"name": cloud_init_secret_name(vm)}}
        if vm.network_data is not None:
            no_cloud["networkDataSecretRef"] = {"name": cloud_init_secret_name(vm)}
        volumes.append({"name": CLOUD_INIT_VOLUME, "cloudInitNoCloud": no_cloud})
    interface: dict[str, Any] = {"name": POD_NETWORK, "masquerade": {}, "model": vm.nic_model or preset.nic_model}
    if vm.mac_address is not None:
        interface["macAddress"] = vm.mac_address
    forwarded = [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in vm.ports]
    if vm.ssh_keys and forwarded and all(p.port != SSH_PORT for p in vm.ports):
        # Masquerade forwards only the listed ports once any is listed: virtctl ssh needs 22.
        forwarded.append({"name": "ssh", "port": SSH_PORT, "protocol": "TCP"})
    if forwarded:
        interface["ports"] = forwarded
    interfaces: list[dict[str, Any]] = [interface]
    networks: list[dict[str, Any]] = [{"name": POD_NETWORK, "pod": {}}]
    for network in vm.networks:
        interfaces.append({"name": network, "bridge": {}})
        networks.append({"name": network, "multus": {"networkName": network}})
    firmware = vm.firmware.type if vm.firmware is not None else preset.firmware
    secure_boot = vm.firmware is not None and vm.firmware.secure_boot
    # KubeVirt's EFI boots with Secure Boot unless told otherwise; Secure Boot needs SMM.
    bootloader = {"efi": {"secureBoot": secure_boot}} if firmware == "efi" else {"bios": {}}
    domain: dict[str, Any] = {
        "firmware": {"bootloader": bootloader},
        "devices": {"disks": disks, "interfaces": interfaces},
    }
    features: dict[str, Any] = {}
    if secure_boot:
        features["smm"] = {"enabled": True}
    if preset.hyperv:
        features.update({"acpi": {}, "apic": {}, "hyperv": dict(HYPERV_FEATURES)})
        domain["clock"] = WINDOWS_CLOCK
    if features:
        domain["features"] = features
    if vm.instancetype is None:
        assert vm.memory is not None
        # A whole core per vCPU unless overcommitted: KubeVirt's default asks a tenth of one.
        domain["cpu"] = {"cores": vm.cores}
        domain["resources"] = {"requests": {"memory": vm.memory, "cpu": f"{vm.cores * 1000 // vm.cpu_overcommit}m"}}
    eviction = vm.eviction_strategy or ("LiveMigrate" if read_write_many else "LiveMigrateIfPossible")
    template_spec: dict[str, Any] = {
        "domain": domain,
        "evictionStrategy": eviction,
        "networks": networks,
        "volumes": volumes,
        **on_virtualization_pools(cluster),
    }
    if vm.ssh_keys:
        template_spec["accessCredentials"] = [
            {
                "sshPublicKey": {
                    "source": {"secret": {"secretName": ssh_keys_secret_name(vm)}},
                    "propagationMethod": {"noCloud": {}},
                }
            }
        ]
    annotations = (
        {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "900"}
        if vm.run_strategy in RUNNING
        else {"pulumi.com/skipAwait": "true"}
    )
    spec: dict[str, Any] = {
        "runStrategy": vm.run_strategy,
        # KubeVirt copies these labels to the VM's launcher pod, which the Service selects.
        "template": {"metadata": {"labels": workload_labels(vm.name)}, "spec": template_spec},
    }
    if vm.instancetype is not None:
        spec["instancetype"] = _reference(vm.instancetype, "Instancetype")
    if vm.preference is not None:
        spec["preference"] = _reference(vm.preference, "Preference")
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": vm.name, "namespace": vm.namespace, "labels": workload_labels(vm.name), "annotations": annotations},
        "spec": spec,
    }


def _reference(reference: VmReferenceSpec, kind: str) -> dict[str, str]:
    prefix = "VirtualMachineCluster" if reference.kind == "cluster" else "VirtualMachine"
    return {"kind": f"{prefix}{kind}", "name": reference.name}


def needs_cloud_init(vm: VirtualMachineSpec) -> bool:
    return vm.user_data is not None or bool(vm.ssh_keys) or vm.network_data is not None


def vm_service(vm: VirtualMachineSpec) -> dict[str, Any]:
    ports = [{"name": p.name, "port": p.port, "targetPort": p.port, "protocol": p.protocol} for p in vm.ports]
    return service(vm.name, vm.namespace, ports)


def exposed_service(vm: VirtualMachineSpec) -> dict[str, Any]:
    """The VM's ports on a cloud load balancer that admits the given networks only. The clients' own
    addresses reach the VM (``externalTrafficPolicy: Local``), so its NetworkPolicy can admit them too."""
    assert vm.expose is not None
    document = vm_service(vm)
    document["metadata"]["name"] = f"{vm.name}-external"
    document["spec"].update(
        {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "loadBalancerSourceRanges": list(vm.expose.allowed_cidrs)}
    )
    return document


def network_policy(vm: VirtualMachineSpec, sources: list[ContainerAppSpec]) -> dict[str, Any]:
    """Only the named apps' pods may reach the VM, on its ports; KubeVirt's virt-api, through which
    `virtctl ssh` and `virtctl port-forward` connect, on any; with ``expose``, the admitted networks."""
    peers = [
        {
            "podSelector": {"matchLabels": selector(app.name)},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": app.namespace}},
        }
        for app in sources
    ]
    ports = [{"port": p.port, "protocol": p.protocol} for p in vm.ports]
    ingress: list[dict[str, Any]] = [
        {"from": peers, "ports": ports},
        {
            "from": [
                {
                    "podSelector": {"matchLabels": dict(VIRT_API_LABELS)},
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": VIRT_API_NAMESPACE}},
                }
            ]
        },
    ]
    if vm.expose is not None:
        ingress.append({"from": [{"ipBlock": {"cidr": cidr}} for cidr in vm.expose.allowed_cidrs], "ports": ports})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{vm.name}-ingress", "namespace": vm.namespace, "labels": workload_labels(vm.name)},
        "spec": {"podSelector": {"matchLabels": {NAME_LABEL: vm.name}}, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def secret(name: str, namespace: str, labels: dict[str, str], data: pulumi.Input[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "stringData": data,
    }


class VirtualMachine(pulumi.ComponentResource):
    """A legacy VM: its disks imported by DataVolumes of their own, run by KubeVirt, its ports behind a Service.

    ``allowed_apps`` are the container apps ``vm.allowFrom`` names; with any, a NetworkPolicy lets
    only their pods (and KubeVirt's virt-api, for virtctl) reach the VM's ports. ``read_write_many``
    asks for disks two nodes can attach (block mode), which live migration needs. The disks outlive
    the VM: `pulumi destroy`, or a rename, deletes their DataVolumes but leaves the PersistentVolumeClaims
    they filled, the disks, in the cluster (``KEEP_CLAIM``) unless ``vm.deleteDisks``. ``disk_class`` is the StorageClass of disks that name
    none, one with reclaim policy ``Retain`` (``DefaultStorageClass.vm_disk_class``), so their volumes
    outlive even a deleted claim; disks deleted with the VM, and all disks when it is None, take the
    cluster's default. Give ``opts.depends_on`` the KubeVirt and CDI resources so the VM is created once
    both are Available.
    """

    data_volumes: list[pulumi.CustomResource]
    """The boot disk's DataVolume, then the data disks'."""

    def __init__(
        self,
        name: str,
        vm: VirtualMachineSpec | dict[str, Any],
        cluster: ClusterSpec,
        opts: pulumi.ResourceOptions,
        allowed_apps: list[ContainerAppSpec] | None = None,
        read_write_many: bool = False,
        disk_class: str | None = None,
    ):
        checked: VirtualMachineSpec = validate(VirtualMachineSpec, vm, path=name)
        super().__init__("hybrid-infra:index:VirtualMachine", name, None, opts)
        self.vm = checked
        child = child_options(self, opts)
        labels = workload_labels(checked.name)
        dependencies: list[pulumi.Resource] = []
        if needs_cloud_init(checked):
            user_data = secret_input(checked.user_data) if checked.user_data is not None else EMPTY_CLOUD_CONFIG
            data: dict[str, Any] = {"userdata": user_data}
            if checked.network_data is not None:
                data["networkdata"] = checked.network_data
            dependencies.append(
                create_object(
                    f"{name}-cloud-init",
                    secret(cloud_init_secret_name(checked), checked.namespace, labels, pulumi.Output.secret(data)),
                    child,
                )
            )
        if checked.ssh_keys:
            keys = {f"key{index}": key for index, key in enumerate(checked.ssh_keys, start=1)}
            dependencies.append(
                create_object(f"{name}-ssh-keys", secret(ssh_keys_secret_name(checked), checked.namespace, labels, keys), child)
            )
        self.data_volumes = []
        disks: list[tuple[VmDiskSpec, VmDataDiskSpec | None]] = [(checked.disk, None)]
        disks += [(disk, disk) for disk in checked.data_disks]
        for disk, data_disk in disks:
            suffix = "disk" if data_disk is None else f"disk-{data_disk.name}"
            before: list[pulumi.Resource] = []
            vddk = disk.vddk
            if vddk is not None:
                credentials = {"accessKeyId": vddk.credentials.username, "secretKey": secret_input(vddk.credentials.password)}
                before.append(
                    create_object(
                        f"{name}-{suffix}-vddk",
                        secret(vddk_secret_name(checked, data_disk), checked.namespace, labels, pulumi.Output.secret(credentials)),
                        child,
                    )
                )
            self.data_volumes.append(
                create_object(
                    f"{name}-{suffix}",
                    data_volume(checked, disk, data_disk, read_write_many, disk_class),
                    child_options(self, opts, *before),
                )
            )
        self.resource = create_object(
            f"{name}-vm",
            virtual_machine(checked, cluster, read_write_many),
            child_options(self, opts, *dependencies, *self.data_volumes),
        )
        self.service = create_object(f"{name}-service", vm_service(checked), child) if checked.ports else None
        if checked.expose is not None:
            create_object(f"{name}-external-service", exposed_service(checked), child)
        if allowed_apps:
            create_object(f"{name}-network-policy", network_policy(checked, allowed_apps), child)
        self.register_outputs({})
