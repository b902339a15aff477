"""vSphere node pools: one VM per node cloned from the template, booting with cloud-init from guestinfo,
and a DRS anti-affinity rule that keeps the control plane on different hosts (soft unless asked)."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_vsphere as vsphere
import yaml

from ...topology import NodeGroup
from ..contract import ApiEndpoint, Node, NodePool
from .config import VSphereSpec
from .network import NIC_ADAPTER, VSphereNetwork

GUESTINFO_ENCODING = "gzip+base64"
"""An encoding cloud-init's VMware datasource decodes (cloudinit/sources/DataSourceVMware.py, 25.3)."""
GUESTINFO_MAX_VALUE = 64 * 1024
"""The largest guestinfo value a guest reads: 64 KiB, open-vm-tools' GUESTMSG_MAX_IN_SIZE (as
vmware-tanzu/vm-operator issue 148 sets out for the gzipped, base64-encoded user data)."""
NODE_CREATION_INPUTS = ["clone", "disks", "extraConfig", "firmware", "guestId", "scsiType"]
"""VM inputs that only matter when a node is created: the template's and the cloud-config's."""


@dataclass(frozen=True)
class Inventory:
    """What every pool's VMs are placed with, found by name in vCenter (``VSphereInfrastructure.look_up_inventory``)."""

    datacenter_id: str
    compute_cluster_id: str
    resource_pool_id: str
    datastore_id: str | None
    datastore_cluster_id: str | None
    template: vsphere.GetVirtualMachineResult


def guestinfo_value(text: str) -> str:
    """``text`` as a guestinfo value in :data:`GUESTINFO_ENCODING` (mtime 0: the same text, the same value)."""
    value = base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
    if len(value) > GUESTINFO_MAX_VALUE:
        raise ValueError(f"a guestinfo value of {len(value)} bytes is over the {GUESTINFO_MAX_VALUE} bytes a guest reads")
    return value


def metadata(node_name: str, network: dict[str, Any]) -> str:
    """cloud-init meta-data for the VMware datasource: identity, network config and what to clear once read.

    ``redact`` (formerly ``cleanup-guestinfo``, which cloud-init still reads) makes the datasource
    overwrite ``guestinfo.userdata`` as soon as it has read it, so the cloud-config with the join
    token and keys does not stay readable through VMware Tools (DataSourceVMware.redact_keys, 25.3).
    """
    document = {
        "instance-id": node_name,
        "local-hostname": node_name,
        "network": network,
        "redact": ["userdata"],
    }
    return yaml.safe_dump(document, sort_keys=False)


def guestinfo(user_data: pulumi.Input[str], node_metadata: str) -> dict[str, pulumi.Input[str]]:
    """The VM's ``extra_config``: meta-data and user data as the VMware datasource reads them."""
    return {
        "guestinfo.metadata": guestinfo_value(node_metadata),
        "guestinfo.metadata.encoding": GUESTINFO_ENCODING,
        # Secret as the cloud-config it encodes.
        "guestinfo.userdata": pulumi.Output.from_input(user_data).apply(guestinfo_value),
        "guestinfo.userdata.encoding": GUESTINFO_ENCODING,
    }


def _disks(template_disks: list[Any], boot_disk_gib: int) -> list[vsphere.VirtualMachineDiskArgs]:
    # A clone needs every disk of the template, each at least as large; the first one is the node's.
    return [
        vsphere.VirtualMachineDiskArgs(
            label=f"disk{index}",
            unit_number=disk.unit_number,
            size=max(disk.size, boot_disk_gib) if index == 0 else disk.size,
            thin_provisioned=disk.thin_provisioned,
            eagerly_scrub=disk.eagerly_scrub,
        )
        for index, disk in enumerate(template_disks)
    ]


class VSphereNodePool(NodePool):
    """One VM per node cloned from the template, and a DRS anti-affinity rule over the pool's VMs."""

    nodes: list[Node]
    """The pool's nodes, in index order."""

    def __init__(
        self,
        name: str,
        group: NodeGroup,
        user_data: Sequence[pulumi.Input[str]],
        spec: VSphereSpec,
        network: VSphereNetwork,
        inventory: Inventory,
        endpoint: ApiEndpoint,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:VSphereNodePool", name, None, opts, group=group, user_data=user_data)
        size = spec.sizes[group.size]
        template = inventory.template
        disks = _disks(list(template.disks), size.disk_gib)
        # kube-vip adds the API address to a control-plane NIC: not the node's own address.
        ignored = [endpoint.virtual_ip] if group.role == "control-plane" and endpoint.virtual_ip is not None else None
        annotation = f"hybrid-infra cluster {group.cluster}, pool {group.name}, role {group.role}"
        self.nodes = []
        machines: list[vsphere.VirtualMachine] = []
        for index, node_name in enumerate(group.node_names):
            address = network.address(group, index)
            machine = vsphere.VirtualMachine(
                f"{name}-{index}",
                name=node_name,
                annotation=annotation,
                resource_pool_id=inventory.resource_pool_id,
                datastore_id=inventory.datastore_id,
                datastore_cluster_id=inventory.datastore_cluster_id,
                folder=spec.folder,
                num_cpus=size.cpus,
                memory=size.memory_mib,
                guest_id=template.guest_id,
                firmware=template.firmware,
                scsi_type=template.scsi_type,
                # The CSI driver finds a volume's disk in the guest by its UUID.
                enable_disk_uuid=True,
                # /dev/kvm in the guest, for KubeVirt: only sizes the checks allow on virtualization pools.
                nested_hv_enabled=size.nested_virtualization,
                network_interfaces=[
                    vsphere.VirtualMachineNetworkInterfaceArgs(network_id=network.network_id, adapter_type=NIC_ADAPTER)
                ],
                disks=disks,
                clone=vsphere.VirtualMachineCloneArgs(template_uuid=template.id),
                extra_config=guestinfo(user_data[index], metadata(node_name, network.config(group, index))),
                ignored_guest_ips=ignored,
                # These force a new VM, or reconfigure a running one, when they change: a new template
                # under the same name, a rotated join token in the cloud-config. Ignoring them keeps
                # such a change from touching running nodes; new nodes get the current values, and
                # `pulumi up --replace` renews a node deliberately. The new VM takes the old one's name
                # and static address, so the old one goes first.
                opts=pulumi.ResourceOptions(
                    parent=self, ignore_changes=NODE_CREATION_INPUTS, delete_before_replace=True
                ),
            )
            machines.append(machine)
            self.nodes.append(
                Node(
                    name=node_name,
                    pool=group.name,
                    role=group.role,
                    private_address=machine.default_ip_address if address is None else pulumi.Output.from_input(address),
                    fault_domain=spec.compute_cluster,
                    machine=machine,
                )
            )
        # A soft rule, as Cluster API's vSphere provider keeps a control plane apart (cluster modules, "soft"
        # anti-affinity that DRS may break when hosts are short or in maintenance mode: CAPV v1.16.1
        # docs/proposal/20220907-node-affinity-and-anti-affinity.md). A mandatory one, on request, blocks
        # maintenance mode on a host holding a control-plane VM unless another host is free for it.
        # Workers spread when asked, with a soft rule always.
        if len(machines) > 1 and (group.role == "control-plane" or spec.anti_affinity.workers):
            vsphere.ComputeClusterVmAntiAffinityRule(
                f"{name}-anti-affinity",
                name=f"{group.cluster}-{group.name}",
                compute_cluster_id=inventory.compute_cluster_id,
                virtual_machine_ids=[machine.id for machine in machines],
                mandatory=group.role == "control-plane" and spec.anti_affinity.control_plane_mandatory,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"nodes": [{"name": n.name, "address": n.private_address} for n in self.nodes]})
