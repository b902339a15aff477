"""The ``hybrid-infra:vsphere`` section as typed arguments of the component provider (no SDK).

The same keys as :mod:`.config`, which validates them; the provider's schema takes its types and
descriptions from here.
"""

# No `from __future__ import annotations`: the analyzer of Pulumi's component provider reads the
# annotations as objects (NotRequired among them).
from typing import NotRequired, TypedDict

import pulumi

from ...config.args import ChartSpec


class VSphereSize(TypedDict):
    """One machine shape that pools name by size."""

    cpus: int
    """Virtual CPUs, 1 to 768."""
    memory: str
    """Memory in whole MiB, at least 1Gi (8Gi, 6144Mi...)."""
    disk: str
    """Disk in whole GiB, at least 10Gi; grown to the template's disk if that is larger."""
    nested_virtualization: NotRequired[bool]
    """Expose hardware virtualization to the guest (nested_hv_enabled), for KubeVirt pools only."""


class VSphereStaticSpec(TypedDict):
    """Static node addresses: each pool takes its addresses in order from its own range."""

    gateway: str
    """IPv4 gateway, a host address of the node network."""
    dns_servers: list[str]
    """IPv4 DNS servers, at least one."""
    search_domains: NotRequired[list[str]]
    """DNS search domains."""
    ranges: dict[str, str]
    """control-plane and every pool name -> FIRST-LAST IPv4 addresses; node i of a pool takes FIRST + i."""


class VSphereNetworkSpec(TypedDict):
    """The node network: a port group, with static addresses or DHCP."""

    port_group: str
    """Name of the network (port group) every node attaches to."""
    dhcp: NotRequired[bool]
    """Worker pools without a range in static.ranges take addresses from DHCP; the control plane always has static addresses."""
    static: NotRequired[VSphereStaticSpec]
    """Static addresses: the control plane's always, every worker pool's unless dhcp is true."""


class VSphereEndpointSpec(TypedDict):
    """The address of the Kubernetes API."""

    address: str
    """With endpoint type vip, the virtual IP kube-vip announces; with loadBalancer, the address of the
    load balancer the user runs in front of the control plane."""


class VSphereAntiAffinitySpec(TypedDict):
    """DRS rules keeping nodes on different hosts (the control plane always)."""

    control_plane_mandatory: NotRequired[bool]
    """Make the control plane's DRS anti-affinity rule mandatory: DRS never puts two of its VMs on one
    host, and a host holding one cannot enter maintenance mode unless another host is free for it."""
    workers: NotRequired[bool]
    """Also keep each worker pool's VMs on different hosts (a soft DRS rule)."""


class VSphereCloudProviderSpec(TypedDict):
    """vCenter credentials of the vSphere cloud provider (CPI) and CSI driver."""

    server: str
    """vCenter host name or address, as its certificate names it."""
    username: str
    """user@domain or DOMAIN\\user."""
    password: pulumi.Input[str]
    """Its password; give it as a secret."""
    ca_bundle: NotRequired[str]
    """PEM text of the CA certificates that sign vCenter's certificate (VMCA's root); preferred to
    thumbprint, as it still holds when vCenter's certificate is renewed."""
    thumbprint: NotRequired[str]
    """SHA-1 fingerprint of vCenter's certificate (hex pairs joined by ':'), not together with caBundle; default: the images' CAs."""


class VSphereChartsSpec(TypedDict):
    """The CPI chart at a pinned version."""

    cloud_controller_manager: NotRequired[ChartSpec]
    """vsphere-cpi."""


class VSphereCsiDriverSpec(TypedDict):
    """The CSI driver's release manifest, pinned by version and sha256."""

    version: NotRequired[str]
    """vsphere-csi-driver release."""
    url: NotRequired[str]
    """A mirror of the release manifest; needs sha256."""
    sha256: NotRequired[str]
    """Digest of the manifest; known for the pinned version."""


class VSphereStorageClassSpec(TypedDict):
    """Parameters of the default StorageClass the CSI driver backs."""

    storage_policy: NotRequired[str]
    """vSphere storage policy (SPBM) of new volumes; the CSI driver's choice when unset."""


class VSphereSpec(TypedDict):
    """vSphere: VMs cloned from a template, static addresses or DHCP on a port group, kube-vip or your
    load balancer (docs/platforms/vsphere.md)."""

    datacenter: str
    """Datacenter the VMs run in."""
    compute_cluster: str
    """DRS cluster the VMs run in."""
    resource_pool: NotRequired[str]
    """Resource pool inside the cluster; default: its root."""
    datastore: NotRequired[str]
    """Datastore of the VMs' disks; or datastoreCluster."""
    datastore_cluster: NotRequired[str]
    """A datastore cluster (Storage DRS) instead of a datastore."""
    folder: NotRequired[str]
    """VM folder path inside the datacenter; default: its root."""
    template: str
    """Name of the VM template every node is cloned from."""
    sizes: dict[str, VSphereSize]
    """Size name used by pools -> CPUs, memory, disk."""
    network: VSphereNetworkSpec
    """The node network."""
    endpoint: VSphereEndpointSpec
    """The API endpoint's address."""
    anti_affinity: NotRequired[VSphereAntiAffinitySpec]
    """DRS anti-affinity rules."""
    cloud_provider: NotRequired[VSphereCloudProviderSpec]
    """Run the vSphere cloud provider (CPI) and CSI driver with these vCenter credentials."""
    charts: NotRequired[VSphereChartsSpec]
    """The cloud provider's chart."""
    csi_driver: NotRequired[VSphereCsiDriverSpec]
    """The CSI driver's manifest."""
    storage_class: NotRequired[VSphereStorageClassSpec]
    """Parameters of the default StorageClass."""
