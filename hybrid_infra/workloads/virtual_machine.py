"""VirtualMachine: lift and shift one legacy VM. Its disk is imported by CDI into the cluster's
storage, KubeVirt runs it beside the pods, and a Service exposes the ports it serves."""

from __future__ import annotations

from typing import Any

import pulumi

from ..addons.placement import on_virtualization_pools
from ..config.cluster import ClusterSpec
from ..config.errors import validate
from ..config.fields import secret_input
from ..config.workloads import ContainerAppSpec, VirtualMachineSpec
from ..objects import child_options, create_object
from .apps import service
from .labels import NAME_LABEL, selector, workload_labels

DISK_VOLUME = "disk"
CLOUD_INIT_VOLUME = "cloudinit"
POD_NETWORK = "default"
EMPTY_CLOUD_CONFIG = "#cloud-config\n{}\n"


def disk_name(vm: VirtualMachineSpec) -> str:
    return f"{vm.name}-disk"


def cloud_init_secret_name(vm: VirtualMachineSpec) -> str:
    return f"{vm.name}-cloud-init"


def ssh_keys_secret_name(vm: VirtualMachineSpec) -> str:
    return f"{vm.name}-ssh-keys"


def data_volume_source(vm: VirtualMachineSpec) -> dict[str, Any]:
    """A registry image (docker://) is a container disk; anything else an http(s) download (qcow2, vmdk, raw)."""
    if vm.disk.source.startswith("docker://"):
        return {"registry": {"url": vm.disk.source}}
    return {"http": {"url": vm.disk.source}}


def virtual_machine(vm: VirtualMachineSpec, cluster: ClusterSpec, read_write_many: bool = False) -> dict[str, Any]:
    """``read_write_many``: the storage attaches to two nodes at once, so the VM can live-migrate."""
    storage: dict[str, Any] = {"resources": {"requests": {"storage": vm.disk.size}}}
    if read_write_many:
        storage.update({"accessModes": ["ReadWriteMany"], "volumeMode": "Block"})
    if vm.disk.storage_class:
        storage["storageClassName"] = vm.disk.storage_class
    disks = [{"name": DISK_VOLUME, "disk": {"bus": "virtio"}}]
    volumes: list[dict[str, Any]] = [{"name": DISK_VOLUME, "dataVolume": {"name": disk_name(vm)}}]
    needs_cloud_init = vm.user_data is not None or bool(vm.ssh_keys)
    if needs_cloud_init:
        disks.append({"name": CLOUD_INIT_VOLUME, "disk": {"bus": "virtio"}})
        volumes.append({"name": CLOUD_INIT_VOLUME, "cloudInitNoCloud": {"secretRef": {"name": cloud_init_secret_name(vm)}}})
    interfaces: list[dict[str, Any]] = [
        {
            "name": POD_NETWORK,
            "masquerade": {},
            "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in vm.ports],
        }
    ]
    networks: list[dict[str, Any]] = [{"name": POD_NETWORK, "pod": {}}]
    for network in vm.networks:
        interfaces.append({"name": network, "bridge": {}})
        networks.append({"name": network, "multus": {"networkName": network}})
    template_spec: dict[str, Any] = {
        "domain": {
            "cpu": {"cores": vm.cpu},
            "resources": {"requests": {"memory": vm.memory}},
            "devices": {"disks": disks, "interfaces": interfaces},
        },
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
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": vm.name, "namespace": vm.namespace, "labels": workload_labels(vm.name)},
        "spec": {
            "runStrategy": vm.run_strategy,
            "dataVolumeTemplates": [
                {
                    "metadata": {"name": disk_name(vm)},
                    "spec": {"source": data_volume_source(vm), "storage": storage},
                }
            ],
            # KubeVirt copies these labels to the VM's launcher pod, which the Service selects.
            "template": {"metadata": {"labels": workload_labels(vm.name)}, "spec": template_spec},
        },
    }


def vm_service(vm: VirtualMachineSpec) -> dict[str, Any]:
    ports = [{"name": p.name, "port": p.port, "targetPort": p.port, "protocol": p.protocol} for p in vm.ports]
    return service(vm.name, vm.namespace, ports)


def network_policy(vm: VirtualMachineSpec, sources: list[ContainerAppSpec]) -> dict[str, Any]:
    """Only the named apps' pods may reach the VM, and only on its ports."""
    peers = [
        {
            "podSelector": {"matchLabels": selector(app.name)},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": app.namespace}},
        }
        for app in sources
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{vm.name}-ingress", "namespace": vm.namespace, "labels": workload_labels(vm.name)},
        "spec": {
            "podSelector": {"matchLabels": {NAME_LABEL: vm.name}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"port": p.port, "protocol": p.protocol} for p in vm.ports]}],
        },
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
    """A legacy VM: its disk imported by a DataVolume template, run by KubeVirt, its ports behind a Service.

    ``allowed_apps`` are the container apps ``vm.allowFrom`` names; with any, a NetworkPolicy lets
    only their pods reach the VM's ports. ``read_write_many`` asks for a disk two nodes can attach
    (block mode), which live migration needs. Give ``opts.depends_on`` the KubeVirt and CDI
    resources so the VM is created once both are Available.
    """

    def __init__(
        self,
        name: str,
        vm: VirtualMachineSpec | dict[str, Any],
        cluster: ClusterSpec,
        opts: pulumi.ResourceOptions,
        allowed_apps: list[ContainerAppSpec] | None = None,
        read_write_many: bool = False,
    ):
        checked: VirtualMachineSpec = validate(VirtualMachineSpec, vm, path=name)
        super().__init__("hybrid-infra:index:VirtualMachine", name, None, opts)
        self.vm = checked
        child = child_options(self, opts)
        labels = workload_labels(checked.name)
        dependencies: list[pulumi.Resource] = []
        if checked.user_data is not None or checked.ssh_keys:
            user_data = secret_input(checked.user_data) if checked.user_data is not None else EMPTY_CLOUD_CONFIG
            dependencies.append(
                create_object(
                    f"{name}-cloud-init",
                    secret(
                        cloud_init_secret_name(checked),
                        checked.namespace,
                        labels,
                        pulumi.Output.secret({"userdata": user_data}),
                    ),
                    child,
                )
            )
        if checked.ssh_keys:
            keys = {f"key{index}": key for index, key in enumerate(checked.ssh_keys, start=1)}
            dependencies.append(
                create_object(f"{name}-ssh-keys", secret(ssh_keys_secret_name(checked), checked.namespace, labels, keys), child)
            )
        self.resource = create_object(
            f"{name}-vm",
            virtual_machine(checked, cluster, read_write_many),
            child_options(self, opts, *dependencies),
        )
        self.service = create_object(f"{name}-service", vm_service(checked), child) if checked.ports else None
        if allowed_apps:
            create_object(f"{name}-network-policy", network_policy(checked, allowed_apps), child)
        self.register_outputs({})
