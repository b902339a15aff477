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


class StorageClassSpec(TypedDict):
    """The default StorageClass."""

    name: NotRequired[str]
    """DNS-1123 label (standard by default)."""
    reclaim_policy: NotRequired[str]
    """Delete (by default) or Retain."""
    read_write_many: NotRequired[bool]
    """Volumes attach to two nodes at once: VMs then live-migrate."""


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


class VmDiskSpec(TypedDict):
    """The VM's disk, imported into the cluster."""

    source: str
    """http(s) URL of a qcow2, vmdk or raw image (optionally gz/xz), or docker:// container disk."""
    size: str
    """At least 1Gi."""
    storage_class: NotRequired[str]
    """StorageClass; default: the cluster's default."""


class VirtualMachineSpec(TypedDict):
    """A legacy VM lifted and shifted, run by KubeVirt."""

    name: str
    """DNS-1123 label."""
    namespace: NotRequired[str]
    """Namespace (default by default)."""
    disk: VmDiskSpec
    """Its disk."""
    cpu: NotRequired[int]
    """Cores, 1 to 256."""
    memory: str
    """At least 128Mi."""
    run_strategy: NotRequired[str]
    """Always (by default), RerunOnFailure, Manual or Halted."""
    user_data: NotRequired[pulumi.Input[str]]
    """cloud-init user data for the guest; give it as a secret."""
    ssh_keys: NotRequired[list[str]]
    """Public keys given to the guest."""
    ports: NotRequired[list[VmPortSpec]]
    """Ports it serves."""
    allow_from: NotRequired[list[str]]
    """Container apps whose pods alone may reach its ports; none: any pod."""
    networks: NotRequired[list[str]]
    """Extra networks (Multus NetworkAttachmentDefinitions)."""


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
