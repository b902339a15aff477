"""The generic sections as typed arguments of the component provider (``hybrid_infra.provider``).

The same names and keys as the models of this package, in Python's spelling (the provider's schema
spells keys in camelCase, as stack files do); the models validate them. The provider's schema takes its
types and descriptions from here. Structure is plain (it decides which resources exist); a secret
is a ``pulumi.Input``, so that it can arrive as a secret.
"""

# No `from __future__ import annotations`: the analyzer of Pulumi's component provider reads the
# annotations as objects (NotRequired among them).
from typing import NotRequired, TypedDict

import pulumi


class NetworkSpec(TypedDict):
    """The cluster's networks, which must not overlap."""

    node_cidr: NotRequired[str]
    """IPv4 CIDR of the node subnet (10.20.0.0/24 by default)."""
    pod_cidr: NotRequired[str]
    """IPv4 CIDR of the pods, /8 to /24 (10.244.0.0/16 by default)."""
    service_cidr: NotRequired[str]
    """IPv4 CIDR of the services, /12 to /28 (10.96.0.0/12 by default)."""


class ControlPlaneSpec(TypedDict):
    """The control-plane nodes."""

    count: NotRequired[int]
    """1, 3 or 5 (etcd needs an odd quorum); 3 by default."""
    size: str
    """A size the platform section defines (its flavors, instance types...)."""
    platform: NotRequired[str]
    """The platform section the nodes run on; default: the only one given."""


class Taint(TypedDict):
    """A node taint."""

    key: str
    """Taint key."""
    value: NotRequired[str]
    """Taint value; empty by default."""
    effect: str
    """NoSchedule, PreferNoSchedule or NoExecute."""


class PoolSpec(TypedDict):
    """A pool of worker nodes of one size."""

    name: str
    """DNS-1123 label, unique, not control-plane; nodes are named <cluster>-<pool>-<index>."""
    count: int
    """Nodes in the pool, 0 or more."""
    size: str
    """A size the platform section defines."""
    labels: NotRequired[dict[str, str]]
    """Kubernetes labels of the nodes."""
    taints: NotRequired[list[Taint]]
    """Taints of the nodes."""
    virtualization: NotRequired[bool]
    """The pool runs KubeVirt virtual machines."""
    platform: NotRequired[str]
    """The platform section the nodes run on; default: the only one given."""


class KubeVipLeaseSpec(TypedDict):
    """kube-vip's leader election."""

    duration_seconds: NotRequired[int]
    """How long a leader's lease lasts (15)."""
    renew_deadline_seconds: NotRequired[int]
    """How long the leader tries to renew it (10)."""
    retry_period_seconds: NotRequired[int]
    """How often candidates try to acquire it (2)."""


class EndpointSpec(TypedDict):
    """The Kubernetes API endpoint."""

    type: NotRequired[str]
    """loadBalancer (the platform's load balancer, by default) or vip (an address the control plane announces)."""
    public: NotRequired[bool]
    """Reachable from outside the node network."""
    allowed_cidrs: NotRequired[list[str]]
    """Clients that may reach the API besides the nodes; required when public."""
    kube_vip_image: NotRequired[str]
    """With type vip, the image announcing the address."""
    kube_vip_lease: NotRequired[KubeVipLeaseSpec]
    """With type vip, kube-vip's leader election (15, 10 and 2 seconds)."""


class ContainerdSpec(TypedDict):
    """containerd 2 from a signed apt repository (``containerd.io``)."""

    repository: NotRequired[str]
    """The apt repository or its mirror (Docker's by default)."""
    version: NotRequired[str]
    """A release line such as 2.3 (any patch of it) or one release such as 2.3.1."""
    key_fingerprint: NotRequired[str]
    """Fingerprint of the repository's signing key; a key without it is refused."""


class PackagesSpec(TypedDict):
    """Where the nodes get containerd, kubelet, kubeadm and kubectl."""

    preinstalled: NotRequired[bool]
    """The image already has them at the cluster's version (containerd 2)."""
    containerd: NotRequired[ContainerdSpec]
    """Where containerd 2 comes from."""
    repository: NotRequired[str]
    """Base of the Kubernetes package repository or its mirror."""
    revision: NotRequired[str]
    """Debian revision of the packages: kubelet=<version>-<revision>."""


class PkiSpec(TypedDict):
    """The cluster's keys and certificates."""

    key_algorithm: NotRequired[str]
    """ecdsa-p256 (by default), rsa-2048, rsa-3072 or rsa-4096."""
    admin_certificate_hours: NotRequired[int]
    """Validity of the admin client certificate (8760 by default)."""


class UpgradeSpec(TypedDict):
    """How a new Kubernetes version reaches the running nodes."""

    max_unavailable: NotRequired[int]
    """Workers upgraded at once (the control plane: one)."""
    drain_timeout_seconds: NotRequired[int]
    """How long draining a node may take."""
    timeout_minutes: NotRequired[int]
    """How long an update waits for every node."""
    image: NotRequired[str]
    """Image of the upgrade job, with a tag or digest."""


class ClusterSpec(TypedDict):
    """The Kubernetes cluster: the keys of hybrid-infra:cluster."""

    name: str
    """DNS-1123 label of at most 20 characters."""
    kubernetes_version: NotRequired[str]
    """An exact release MAJOR.MINOR.PATCH, from 1.31 to 1.37."""
    network: NotRequired[NetworkSpec]
    """Node, pod and service networks."""
    control_plane: ControlPlaneSpec
    """The control-plane nodes."""
    pools: NotRequired[list[PoolSpec]]
    """Worker pools."""
    endpoint: NotRequired[EndpointSpec]
    """The API endpoint."""
    cni: NotRequired[str]
    """cilium (by default) or calico."""
    packages: NotRequired[PackagesSpec]
    """Kubernetes packages on the nodes."""
    image_repository: NotRequired[str]
    """Where kubeadm pulls control-plane images (registry.k8s.io by default)."""
    registry_mirrors: NotRequired[dict[str, list[str]]]
    """Registry host -> mirror URLs tried in order."""
    pki: NotRequired[PkiSpec]
    """Keys and certificates."""
    readiness_timeout_seconds: NotRequired[int]
    """How long an update waits for the API, 10 to 7200."""
    upgrade: NotRequired[UpgradeSpec]
    """In-place upgrades of running nodes."""
    join_token_ttl_minutes: NotRequired[int]
    """How long a join token works after it is issued, 15 to 1440."""


class ChartSpec(TypedDict):
    """A Helm chart at a pinned version; point the repository at a mirror for air-gapped sites."""

    repository: str
    """http(s) or oci URL of the chart repository."""
    version: str
    """Chart version."""


class ChartsSpec(TypedDict):
    """The CNI charts."""

    cilium: NotRequired[ChartSpec]
    """Cilium's chart."""
    calico: NotRequired[ChartSpec]
    """Calico's tigera-operator chart."""


class VmDiskClassSpec(TypedDict):
    """A second StorageClass, reclaim policy Retain, for the disks of VMs that keep them."""

    enabled: NotRequired[bool]
    """Made where a pool runs virtualization by default."""
    name: NotRequired[str]
    """DNS-1123 label (vm-disks by default)."""


class StorageClassSpec(TypedDict):
    """The default StorageClass."""

    name: NotRequired[str]
    """DNS-1123 label (standard by default)."""
    reclaim_policy: NotRequired[str]
    """Delete (by default) or Retain."""
    read_write_many: NotRequired[bool]
    """Volumes attach to two nodes at once: VMs then live-migrate."""
    vm_disks: NotRequired[VmDiskClassSpec]
    """The class of VM disks that name none, unless the VM sets deleteDisks."""


class ManifestSource(TypedDict):
    """Where a release manifest comes from: its release URL (by default), a mirror or a file."""

    url: NotRequired[str]
    """A mirror of the release manifest."""
    file: NotRequired[str]
    """A local copy, relative to the working directory of the program (or provider) that reads it."""
    sha256: NotRequired[str]
    """Digest the manifest must have."""


class KubeVirtSpec(TypedDict):
    """KubeVirt."""

    version: NotRequired[str]
    """KubeVirt release."""
    operator_manifest: NotRequired[ManifestSource]
    """The release's operator manifest, or a mirror."""
    use_emulation: NotRequired[bool]
    """Run VMs without KVM by software emulation: slow, for tests only."""
    feature_gates: NotRequired[list[str]]
    """KubeVirt feature gates."""
    image_registry: NotRequired[str]
    """Registry (mirror) of the KubeVirt images."""
    workload_update_methods: NotRequired[list[str]]
    """LiveMigrate, Evict; default: LiveMigrate with ReadWriteMany storage, else none."""


class CdiSpec(TypedDict):
    """CDI, which imports VM disks."""

    version: NotRequired[str]
    """CDI release."""
    operator_manifest: NotRequired[ManifestSource]
    """The release's operator manifest, or a mirror."""
    feature_gates: NotRequired[list[str]]
    """CDI feature gates."""
    upload_proxy: NotRequired[bool]
    """Expose the upload proxy by a load balancer."""
    upload_proxy_allowed_cidrs: NotRequired[list[str]]
    """Client networks the upload proxy's load balancer admits (required with upload_proxy)."""
    upload_proxy_url: NotRequired[str]
    """The URL clients reach the upload proxy at: CDI's uploadProxyURLOverride."""


class MultusSpec(TypedDict):
    """Multus, for VMs' extra networks."""

    enabled: NotRequired[bool]
    """Install Multus."""
    version: NotRequired[str]
    """Multus release."""
    manifest: NotRequired[ManifestSource]
    """Its thick DaemonSet manifest, or a mirror."""


class SystemUpgradeSpec(TypedDict):
    """The system-upgrade-controller that applies version changes to running nodes."""

    version: NotRequired[str]
    """Its release."""
    manifest: NotRequired[ManifestSource]
    """Its release manifest, or a mirror."""


class SnapshotManifestsSpec(TypedDict):
    """The external-snapshotter release files, each from its release URL (by default), a mirror or a file."""

    volume_snapshot_classes: NotRequired[ManifestSource]
    """The VolumeSnapshotClass CRD."""
    volume_snapshot_contents: NotRequired[ManifestSource]
    """The VolumeSnapshotContent CRD."""
    volume_snapshots: NotRequired[ManifestSource]
    """The VolumeSnapshot CRD."""
    rbac: NotRequired[ManifestSource]
    """The snapshot controller's service account and roles."""
    controller: NotRequired[ManifestSource]
    """The snapshot controller's Deployment."""


class VolumeSnapshotsSpec(TypedDict):
    """The CSI snapshot controller, its CRDs and a default VolumeSnapshotClass (VM snapshots need them)."""

    enabled: NotRequired[bool]
    """Install them; default: when a pool has virtualization: true."""
    version: NotRequired[str]
    """external-snapshotter release."""
    manifests: NotRequired[SnapshotManifestsSpec]
    """Its release files, or mirrors."""
    deletion_policy: NotRequired[str]
    """Retain (by default: a deleted VolumeSnapshot leaves the cloud's snapshot) or Delete."""


class AddonsSpec(TypedDict):
    """The add-ons: the keys of hybrid-infra:addons."""

    charts: NotRequired[ChartsSpec]
    """The CNI charts."""
    calico_crds: NotRequired[ManifestSource]
    """Calico's CRDs, applied before its chart: the release's operator-crds.yaml, or a mirror."""
    storage_class: NotRequired[StorageClassSpec]
    """The default StorageClass."""
    kubevirt: NotRequired[KubeVirtSpec]
    """KubeVirt."""
    cdi: NotRequired[CdiSpec]
    """CDI."""
    multus: NotRequired[MultusSpec]
    """Multus."""
    system_upgrade: NotRequired[SystemUpgradeSpec]
    """The system-upgrade-controller."""
    volume_snapshots: NotRequired[VolumeSnapshotsSpec]
    """Volume snapshots."""


class ContainerAppSpec(TypedDict):
    """A stateless app in containers: a Deployment and its Service."""

    name: str
    """DNS-1123 label."""
    namespace: NotRequired[str]
    """Namespace (default by default)."""
    image: str
    """Container image."""
    replicas: NotRequired[int]
    """Replicas (2 by default)."""
    port: int
    """The port the app serves."""


class VmPortSpec(TypedDict):
    """A port the VM serves, exposed by a Service."""

    name: str
    """At most 15 characters."""
    port: int
    """Port number."""
    protocol: NotRequired[str]
    """TCP (by default) or UDP."""


class VmPvcSourceSpec(TypedDict):
    """A copy of an existing PersistentVolumeClaim."""

    name: str
    """The claim."""
    namespace: NotRequired[str]
    """Its namespace; default: the VM's."""


class VmVddkCredentialsSpec(TypedDict):
    """The vCenter or ESXi account CDI reads the disk with."""

    username: str
    """User name."""
    password: pulumi.Input[str]
    """Its password; give it as a secret."""


class VmVddkSourceSpec(TypedDict):
    """A VMware VM's disk, read through VMware's VDDK library."""

    url: str
    """https://<vCenter or ESXi>."""
    uuid: str
    """The VM's BIOS UUID."""
    backing_file: str
    """The disk's file, e.g. '[datastore1] erp/erp.vmdk'."""
    thumbprint: str
    """SHA-1 fingerprint of the host's certificate."""
    credentials: VmVddkCredentialsSpec
    """The account to read it with."""
    init_image: str
    """An image holding the VDDK library."""


class VmDiskSpec(TypedDict):
    """The VM's boot disk, imported into the cluster: exactly one of source, pvc, upload and vddk."""

    source: NotRequired[str]
    """http(s) URL of a qcow2, vmdk or raw image (optionally gz/xz), or docker:// container disk."""
    cert_config_map: NotRequired[str]
    """http(s) source: ConfigMap in the VM's namespace holding the CA of the server's certificate."""
    secret_ref: NotRequired[str]
    """http(s) source: Secret in the VM's namespace with accessKeyId and secretKey (basic auth)."""
    checksum: NotRequired[str]
    """http(s) source: <algorithm>:<hex> (md5, sha1, sha256, sha512) the download is checked against."""
    pvc: NotRequired[VmPvcSourceSpec]
    """A copy of an existing claim."""
    upload: NotRequired[bool]
    """An empty disk waiting for `virtctl image-upload`."""
    vddk: NotRequired[VmVddkSourceSpec]
    """A VMware VM's disk."""
    size: str
    """At least 1Gi."""
    storage_class: NotRequired[str]
    """StorageClass; default: the cluster's default."""
    bus: NotRequired[str]
    """virtio, sata or scsi; default: the guestOs preset's."""


class VmDataDiskSpec(TypedDict):
    """A further disk of the VM: a boot disk's keys, and its name."""

    name: str
    """Its name in the VM; its DataVolume is <vm>-<name>."""

    source: NotRequired[str]
    """http(s) URL of a qcow2, vmdk or raw image (optionally gz/xz), or docker:// container disk."""
    cert_config_map: NotRequired[str]
    """http(s) source: ConfigMap in the VM's namespace holding the CA of the server's certificate."""
    secret_ref: NotRequired[str]
    """http(s) source: Secret in the VM's namespace with accessKeyId and secretKey (basic auth)."""
    checksum: NotRequired[str]
    """http(s) source: <algorithm>:<hex> (md5, sha1, sha256, sha512) the download is checked against."""
    pvc: NotRequired[VmPvcSourceSpec]
    """A copy of an existing claim."""
    upload: NotRequired[bool]
    """An empty disk waiting for `virtctl image-upload`."""
    vddk: NotRequired[VmVddkSourceSpec]
    """A VMware VM's disk."""
    size: str
    """At least 1Gi."""
    storage_class: NotRequired[str]
    """StorageClass; default: the cluster's default."""
    bus: NotRequired[str]
    """virtio, sata or scsi; default: the guestOs preset's."""


class VmFirmwareSpec(TypedDict):
    """How the VM boots."""

    type: str
    """bios or efi."""
    secure_boot: NotRequired[bool]
    """UEFI Secure Boot (efi only)."""


class VmReferenceSpec(TypedDict):
    """A KubeVirt instance type or preference."""

    name: str
    """Its name."""
    kind: NotRequired[str]
    """cluster (by default) or namespaced."""


class VmExposeSpec(TypedDict):
    """The VM's ports on a cloud load balancer."""

    allowed_cidrs: list[str]
    """Client networks the load balancer admits."""


class VirtualMachineSpec(TypedDict):
    """A legacy VM lifted and shifted, run by KubeVirt."""

    name: str
    """DNS-1123 label."""
    namespace: NotRequired[str]
    """Namespace (default by default)."""
    guest_os: NotRequired[str]
    """linux (by default), linux-legacy or windows: the preset of bus, firmware and NIC."""
    disk: VmDiskSpec
    """Its boot disk."""
    data_disks: NotRequired[list[VmDataDiskSpec]]
    """Further disks."""
    firmware: NotRequired[VmFirmwareSpec]
    """bios or efi; default: the preset's."""
    nic_model: NotRequired[str]
    """virtio or e1000e; default: the preset's."""
    mac_address: NotRequired[str]
    """The pod network interface's MAC address."""
    cpu: NotRequired[int]
    """Cores, 1 to 256 (1 by default), unless an instancetype gives them."""
    memory: NotRequired[str]
    """At least 128Mi; required unless an instancetype gives it."""
    cpu_overcommit: NotRequired[int]
    """vCPUs per requested core (1 by default)."""
    instancetype: NotRequired[VmReferenceSpec]
    """A KubeVirt instance type instead of cpu and memory."""
    preference: NotRequired[VmReferenceSpec]
    """A KubeVirt preference."""
    run_strategy: NotRequired[str]
    """Always (by default), RerunOnFailure, Manual or Halted."""
    eviction_strategy: NotRequired[str]
    """LiveMigrate, LiveMigrateIfPossible, External or None; default by the storage's access mode."""
    user_data: NotRequired[pulumi.Input[str]]
    """cloud-init user data for the guest; give it as a secret."""
    network_data: NotRequired[str]
    """cloud-init network configuration (version 2) for static addresses."""
    ssh_keys: NotRequired[list[str]]
    """Public keys given to the guest."""
    ports: NotRequired[list[VmPortSpec]]
    """Ports it serves."""
    allow_from: NotRequired[list[str]]
    """Container apps whose pods alone may reach its ports; none: any pod."""
    expose: NotRequired[VmExposeSpec]
    """Also a LoadBalancer Service for the ports."""
    networks: NotRequired[list[str]]
    """Extra networks (Multus NetworkAttachmentDefinitions)."""
    delete_disks: NotRequired[bool]
    """pulumi destroy and a rename delete the disks (false by default: they stay)."""
    import_timeout_minutes: NotRequired[int]
    """How long pulumi up waits for each disk import (240 by default)."""


class WorkloadsSpec(TypedDict):
    """The workloads: the keys of hybrid-infra:workloads."""

    containers: NotRequired[list[ContainerAppSpec]]
    """Stateless apps in containers."""
    virtual_machines: NotRequired[list[VirtualMachineSpec]]
    """Legacy VMs."""


class StackSections(TypedDict):
    """The generic sections of a stack, as a stack file has them (with one platform section beside them)."""

    cluster: ClusterSpec
    """hybrid-infra:cluster."""
    addons: NotRequired[AddonsSpec]
    """hybrid-infra:addons."""
    workloads: NotRequired[WorkloadsSpec]
    """hybrid-infra:workloads."""
