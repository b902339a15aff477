"""A virtualization lab on vSphere, built from hybrid-infra's components in code.

Three control-plane nodes and a general pool run the cluster's own services; the ``virt`` pool's
workers get nested virtualization (``nested_hv_enabled``) from their size, are tainted so that only
VMs land there, and run KubeVirt's VMs with KVM, never emulated. Two VMs share the lab: an Ubuntu
dev box imported by CDI from Ubuntu's cloud image, and a Fedora web server from a container disk.
Their cloud-init carries the lab user's console password, read with ``config.require_secret``, so
it reaches the cluster as a Pulumi secret. The stack file holds only what differs per environment.
"""

import ipaddress
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import yaml

from hybrid_infra import (
    AddonsSpec,
    Cdi,
    ClusterSpec,
    Cni,
    ConfigError,
    ControlPlaneSpec,
    EndpointSpec,
    KubernetesCluster,
    KubeVirt,
    MetadataPolicy,
    NetworkSpec,
    PoolSpec,
    StackSpec,
    VirtualMachine,
    VirtualMachineSpec,
    WorkloadsSpec,
    stack_spec,
)
from hybrid_infra.platforms.vsphere import (
    VSphereAntiAffinitySpec,
    VSphereCloudProviderSpec,
    VSphereEndpointSpec,
    VSphereInfrastructure,
    VSphereNetworkSpec,
    VSphereSize,
    VSphereSpec,
    VSphereStaticSpec,
)

PROJECT_DIR = Path(__file__).resolve().parent
LAB_NAMESPACE = "lab"
LAB_USER = "lab"
VIRT_TAINT = {"key": "hybrid-infra.io/virtualization", "value": "true", "effect": "NoSchedule"}

config = pulumi.Config()
name = f"lab-{pulumi.get_stack()}"
node_network = ipaddress.IPv4Network(config.require("nodeCidr"))


def host(index: int) -> str:
    """The ``index``-th address of the node network."""
    return str(node_network.network_address + index)


def lab_cloud_config(
    hostname: str, admin_group: str, password: str, ssh_key: str, packages: list[str], commands: list[list[str]]
) -> str:
    """The guest's cloud-config: the lab user (an administrator through ``admin_group``) with its console
    password and SSH key, the packages to install and the commands to run."""
    document = {
        "hostname": hostname,
        "users": [
            "default",
            {
                "name": LAB_USER,
                "groups": [admin_group],
                "shell": "/bin/bash",
                "lock_passwd": False,
                "ssh_authorized_keys": [ssh_key],
            },
        ],
        # The password opens the serial console (virtctl console); SSH takes the key only.
        "chpasswd": {"expire": False, "users": [{"name": LAB_USER, "password": password, "type": "text"}]},
        "ssh_pwauth": False,
        "packages": packages,
        "runcmd": commands,
    }
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False)


def lab_user_data(hostname: str, admin_group: str, packages: list[str], commands: list[list[str]]) -> pulumi.Output[str]:
    """A VM's cloud-config as a Pulumi secret: it holds the console password."""
    ssh_key = config.require("sshPublicKey")
    return config.require_secret("vmPassword").apply(
        lambda password: lab_cloud_config(hostname, admin_group, password, ssh_key, packages, commands)
    )


def lab_stack() -> StackSpec:
    """The lab's parts, checked together as a stack file is: sizes exist, only the virt pool's size
    nests virtualization, each pool's addresses fit its range, the VMs' disks have a default StorageClass."""
    return stack_spec(
        ClusterSpec(
            name=name,
            network=NetworkSpec(node_cidr=str(node_network)),
            control_plane=ControlPlaneSpec(count=3, size="medium"),
            pools=[
                PoolSpec(name="general", count=2, size="medium"),
                PoolSpec(
                    name="virt",
                    count=config.require_int("virtNodes"),
                    size="virt",
                    virtualization=True,
                    labels={"lab.example.com/role": "virtualization"},
                    taints=[VIRT_TAINT],
                ),
            ],
            # kube-vip announces the API's address from the control plane.
            endpoint=EndpointSpec(type="vip"),
        ),
        VSphereSpec(
            datacenter=config.require("datacenter"),
            compute_cluster=config.require("computeCluster"),
            resource_pool=config.require("resourcePool"),
            datastore=config.require("datastore"),
            template=config.require("template"),
            sizes={
                "medium": VSphereSize(cpus=4, memory="8Gi", disk="60Gi"),
                # Hardware virtualization exposed to the guest: /dev/kvm for KubeVirt.
                "virt": VSphereSize(cpus=16, memory="64Gi", disk="200Gi", nested_virtualization=True),
            },
            network=VSphereNetworkSpec(
                port_group=config.require("portGroup"),
                static=VSphereStaticSpec(
                    gateway=host(1),
                    dns_servers=config.require_object("dnsServers"),
                    # Each pool's own range: node i takes its i-th address, so scaling never moves a node.
                    ranges={
                        "control-plane": f"{host(10)}-{host(14)}",
                        "general": f"{host(20)}-{host(39)}",
                        "virt": f"{host(40)}-{host(79)}",
                    },
                ),
            ),
            endpoint=VSphereEndpointSpec(address=host(5)),
            # DRS keeps the virt workers on different hosts too, so one host down stops half the VMs at most.
            anti_affinity=VSphereAntiAffinitySpec(workers=True),
            cloud_provider=VSphereCloudProviderSpec(
                server=config.require("vcenter"),
                username=config.require("cloudProviderUser"),
                # A Pulumi secret: it reaches the CPI's and CSI driver's Secrets without being read as text.
                password=config.require_secret("cloudProviderPassword"),
                thumbprint=config.require("vcenterThumbprint"),
            ),
        ),
        AddonsSpec(),
        WorkloadsSpec(
            virtual_machines=[
                VirtualMachineSpec(
                    name="devbox",
                    namespace=LAB_NAMESPACE,
                    disk={
                        "source": "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
                        "size": "30Gi",
                    },
                    cpu=4,
                    memory="8Gi",
                    user_data=lab_user_data(
                        "devbox", "sudo", ["qemu-guest-agent", "build-essential"], [["systemctl", "enable", "--now", "qemu-guest-agent"]]
                    ),
                    ports=[{"name": "ssh", "port": 22}],
                ),
                VirtualMachineSpec(
                    name="web",
                    namespace=LAB_NAMESPACE,
                    disk={"source": "docker://quay.io/containerdisks/fedora:41", "size": "10Gi"},
                    cpu=2,
                    memory="2Gi",
                    user_data=lab_user_data("web", "wheel", ["nginx"], [["systemctl", "enable", "--now", "nginx"]]),
                    ports=[{"name": "ssh", "port": 22}, {"name": "http", "port": 80}],
                ),
            ]
        ),
    )


try:
    stack = lab_stack()
except ConfigError as error:
    raise pulumi.RunError(f"the lab's settings do not fit together:\n{error}") from None

infrastructure = VSphereInfrastructure(f"{name}-vsphere", stack.cluster, stack.section(VSphereSpec))
cluster = KubernetesCluster(name, stack.cluster, infrastructure)


def on_cluster(*after: pulumi.Resource | None) -> pulumi.ResourceOptions:
    """Through the cluster's Kubernetes provider, once ``after`` exist."""
    return pulumi.ResourceOptions(provider=cluster.provider, depends_on=[r for r in after if r is not None])


# In the order HybridPlatform keeps: the pod network, the policy that keeps pods from the nodes'
# user data, the vSphere cloud provider and CSI driver, then KubeVirt and CDI, then the VMs.
cni = Cni(f"{name}-cni", stack.cluster, stack.addons, cluster.api_address, cluster.api_port, on_cluster())
metadata_policy = MetadataPolicy(f"{name}-metadata-policy", stack.cluster, on_cluster(cni))
cloud_provider = infrastructure.create_cloud_provider(
    f"{name}-vsphere-cloud-provider", stack.addons, on_cluster(cni, metadata_policy)
)
kubevirt = KubeVirt(f"{name}-kubevirt", stack, PROJECT_DIR, on_cluster(cni, metadata_policy, cloud_provider))
cdi = Cdi(f"{name}-cdi", stack, PROJECT_DIR, on_cluster(cni, metadata_policy, cloud_provider))
namespace = k8s.core.v1.Namespace(
    f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=LAB_NAMESPACE), opts=on_cluster(cni, metadata_policy)
)
virtual_machines = [
    VirtualMachine(
        f"{name}-{vm.name}",
        vm,
        stack.cluster,
        on_cluster(cni, metadata_policy, kubevirt.resource, cdi.resource, namespace),
        read_write_many=stack.addons.storage_class.read_write_many,
    )
    for vm in stack.workloads.virtual_machines
]

pulumi.export("endpoint", cluster.endpoint)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("nodes", cluster.nodes)
pulumi.export("virtualMachines", [f"{vm.vm.namespace}/{vm.vm.name}" for vm in virtual_machines])
