"""Typed stack configuration: the only place raw configuration is read and checked.

A stack file holds structured Pulumi config objects under the ``hybrid-infra`` namespace
(``hybrid-infra:cluster`` and one platform section such as ``hybrid-infra:openstack``).
They are parsed into the pydantic models below. Every problem becomes one line naming the key
path, the value given and what is allowed, and all of them are reported together before any
resource is registered.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import types
import typing
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

NAMESPACE = "hybrid-infra"
PLATFORMS = ("openstack",)
MIN_KUBERNETES = (1, 31)
DEFAULT_KUBERNETES_VERSION = "1.34.2"
CONTROL_PLANE_POOL = "control-plane"
POOL_LABEL = "hybrid-infra.io/pool"
"""Every node carries its pool's name under this label."""
CILIUM_VERSION = "1.19.3"
CALICO_VERSION = "v3.30.3"
OPENSTACK_CCM_VERSION = "2.34.1"
CINDER_CSI_VERSION = "2.34.1"
KUBE_VIP_IMAGE = "ghcr.io/kube-vip/kube-vip:v1.2.3"
KUBEVIRT_VERSION = "v1.9.0"
CDI_VERSION = "v1.66.0"
MULTUS_VERSION = "v4.2.2"
API_PORT = 6443


class ConfigError(Exception):
    """Invalid configuration: one human-readable line per problem."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _problem(message: str, key: str | None = None, absolute: bool = False) -> PydanticCustomError:
    """A validation error whose message is final; ``key`` extends the path below the model, or with
    ``absolute`` replaces it (checks across sections name the key from the top)."""
    return PydanticCustomError("hybrid_infra", "{message}", {"message": message, "key": key, "absolute": absolute})


# --- field types -------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise _problem(
            f"{value!r} is not allowed; use a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def _not_empty(value: str) -> str:
    if not value.strip():
        raise _problem(f"{value!r} is not allowed; it must not be empty")
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise _problem(f"{value!r} is not allowed; use an IPv4 network in CIDR form such as 10.0.0.0/16") from None
    if network.version != 4:
        raise _problem(f"{value!r} is not allowed; only IPv4 networks are supported")
    return str(network)


def _prefix_between(value: str, shortest: int, longest: int, why: str) -> str:
    if not shortest <= ipaddress.ip_network(value).prefixlen <= longest:
        raise _problem(f"{value!r} is not allowed; use a network from /{shortest} to /{longest} ({why})")
    return value


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise _problem(f"{value!r} is not allowed; use an IPv4 address such as 192.0.2.53") from None


def _http_url(value: str) -> str:
    parsed = urllib.parse.urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise _problem(f"{value!r} is not allowed; use an http(s) URL such as https://mirror.example.com/path")
    return value


def _secret(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise _problem("the value given is not allowed; a non-empty string is needed (set it with `pulumi config set --secret`)")
    return value


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_QUANTITY_FACTORS = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def quantity_bytes(value: str) -> int:
    """Bytes of a Kubernetes quantity such as ``8Gi`` or ``500M``."""
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(value)
    return int(float(match.group(1)) * _QUANTITY_FACTORS[match.group(2)])


def _quantity(value: str) -> str:
    try:
        quantity_bytes(value)
    except ValueError:
        raise _problem(f"{value!r} is not allowed; use a Kubernetes quantity such as 512Mi or 20Gi") from None
    return value


def _at_least(minimum: str) -> Any:
    def check(value: str) -> str:
        if quantity_bytes(value) < quantity_bytes(minimum):
            raise _problem(f"{value!r} is not allowed; use at least {minimum}")
        return value

    return check


def _sha256(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise _problem(f"{value!r} is not allowed; use the 64 lower-case hex digits of a sha256 digest")
    return value


def _disk_source(value: str) -> str:
    parsed = urllib.parse.urlparse(value)
    if parsed.scheme not in ("http", "https", "docker") or not parsed.netloc:
        raise _problem(
            f"{value!r} is not allowed; use an http(s) URL of a qcow2, vmdk or raw disk image (optionally .gz or .xz), "
            "or docker://registry/image:tag of a container disk"
        )
    return value


def _kubernetes_version(value: str) -> str:
    match = _VERSION.match(value)
    if not match:
        raise _problem(f"{value!r} is not allowed; use an exact release such as {DEFAULT_KUBERNETES_VERSION}")
    major, minor, patch = (int(part) for part in match.groups())
    if (major, minor) < MIN_KUBERNETES:
        raise _problem(
            f"{value!r} is not allowed; kubeadm API v1beta4 needs Kubernetes "
            f"{MIN_KUBERNETES[0]}.{MIN_KUBERNETES[1]} or newer"
        )
    return f"{major}.{minor}.{patch}"


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or len(name) > 63 or not _LABEL_NAME.match(name):
        raise _problem(
            f"{value!r} is not allowed; use [prefix/]name where prefix is a DNS subdomain and name is at most "
            "63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


def _label_value(value: str) -> str:
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        raise _problem(
            f"{value!r} is not allowed; a label value is empty or at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


def _strict_int(value: Any) -> Any:
    # YAML's true is not 1, and "10" is a string: refuse both instead of coercing.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _problem(f"{value!r} is not allowed; expected a whole number")
    return value


def _strict_str(value: Any) -> Any:
    # YAML turns unquoted 1.30 into a float and yes into a bool; refuse them instead of guessing.
    if not isinstance(value, str):
        raise _problem(f"{value!r} is not allowed; expected a string (quote it in YAML)")
    return value


Str = Annotated[str, BeforeValidator(_strict_str)]
NonEmpty = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_not_empty)]
DnsLabel = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_dns_label)]
Cidr = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_cidr)]
IPv4 = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_ip_address)]
KubernetesVersion = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_kubernetes_version)]
HttpUrl = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_http_url)]
Secret = Annotated[SecretStr, BeforeValidator(_secret)]
Quantity = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_quantity)]
Sha256 = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_sha256)]
DiskSource = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_disk_source)]
Int = Annotated[int, BeforeValidator(_strict_int)]
Port = Annotated[int, BeforeValidator(_strict_int), Field(ge=1, le=65535)]
LabelKey = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_label_key)]
LabelValue = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_label_value)]
Count = Annotated[int, BeforeValidator(_strict_int), Field(ge=0)]


class Spec(BaseModel):
    """Base of every configuration model: camelCase keys in YAML, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=False,
    )


class Taint(Spec):
    key: LabelKey
    value: LabelValue = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        """Accept kubectl's form ``key[=value]:Effect``."""
        if not isinstance(data, str):
            return data
        key_value, sep, effect = data.rpartition(":")
        if not sep or effect not in TAINT_EFFECTS:
            raise _problem(
                f"{data!r} is not allowed; use key[=value]:Effect with Effect one of {', '.join(TAINT_EFFECTS)}"
            )
        key, _, value = key_value.partition("=")
        return {"key": key, "value": value, "effect": effect}

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


class NetworkSpec(Spec):
    node_cidr: Cidr = "10.20.0.0/24"
    pod_cidr: Cidr = "10.244.0.0/16"
    service_cidr: Cidr = "10.96.0.0/12"

    @field_validator("pod_cidr")
    @classmethod
    def _pod_size(cls, value: str) -> str:
        # Each node gets a /24 of pods (kube-controller-manager and Cilium's cluster pool).
        return _prefix_between(value, 8, 24, "each node takes a /24 of it")

    @field_validator("service_cidr")
    @classmethod
    def _service_size(cls, value: str) -> str:
        return _prefix_between(value, 12, 28, "the API server's limits")

    @model_validator(mode="after")
    def _no_overlap(self) -> NetworkSpec:
        names = ("node_cidr", "pod_cidr", "service_cidr")
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                a = ipaddress.ip_network(getattr(self, first))
                b = ipaddress.ip_network(getattr(self, second))
                if a.overlaps(b):
                    raise _problem(
                        f"{b} overlaps {to_camel(first)} {a}; node, pod and service networks must not overlap",
                        key=to_camel(second),
                    )
        return self


class ControlPlaneSpec(Spec):
    count: Int = 3
    size: NonEmpty

    @field_validator("count")
    @classmethod
    def _odd_quorum(cls, value: int) -> int:
        if value not in (1, 3, 5):
            raise _problem(f"{value} is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)")
        return value


class PoolSpec(Spec):
    """A pool of worker nodes of one size."""

    name: DnsLabel
    count: Count
    size: NonEmpty
    labels: dict[LabelKey, LabelValue] = {}
    taints: list[Taint] = []
    virtualization: bool = Field(False, description="run KubeVirt virtual machines on this pool")

    @field_validator("labels")
    @classmethod
    def _kubelet_may_set(cls, labels: dict[str, str]) -> dict[str, str]:
        # The NodeRestriction admission plugin refuses kubelets that label themselves in these domains.
        for key in labels:
            if key == POOL_LABEL:
                raise _problem(f"{key!r} is not allowed; hybrid-infra sets it to the pool's name", key=key)
            prefix = key.rpartition("/")[0]
            restricted = prefix.endswith(("kubernetes.io", "k8s.io"))
            if restricted and not prefix.endswith(("kubelet.kubernetes.io", "node.kubernetes.io")):
                raise _problem(
                    f"{key!r} is not allowed; nodes may not label themselves under kubernetes.io or k8s.io "
                    "(except kubelet.kubernetes.io and node.kubernetes.io)",
                    key=key,
                )
        return labels

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == CONTROL_PLANE_POOL:
            raise _problem(f"{value!r} is not allowed; the name is reserved for the control plane")
        return value


class EndpointSpec(Spec):
    type: Literal["loadBalancer", "vip"] = "loadBalancer"
    public: bool = False
    allowed_cidrs: list[Cidr] = Field(
        default=[], description="clients allowed to reach the API besides the nodes themselves"
    )
    kube_vip_image: NonEmpty = Field(KUBE_VIP_IMAGE, description="with type vip: the image announcing the address")

    @model_validator(mode="after")
    def _public_needs_clients(self) -> EndpointSpec:
        if self.public and not self.allowed_cidrs:
            raise _problem(
                "[] is not allowed with public: true; name the networks of the API's clients "
                "(the machine running pulumi among them)",
                key="allowedCidrs",
            )
        return self


class PackagesSpec(Spec):
    preinstalled: bool = Field(
        False, description="the image already has containerd, kubelet, kubeadm and kubectl at the cluster's version"
    )
    repository: HttpUrl = Field(
        "https://pkgs.k8s.io/core:/stable:", description="base of the Kubernetes package repository (or its mirror)"
    )
    revision: NonEmpty = Field("1.1", description="Debian revision of the packages: kubelet=<version>-<revision>")


class PkiSpec(Spec):
    key_algorithm: Literal["ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"] = "ecdsa-p256"
    admin_certificate_hours: Int = Field(8760, ge=1, le=87600)


class ClusterSpec(Spec):
    name: DnsLabel
    kubernetes_version: KubernetesVersion = DEFAULT_KUBERNETES_VERSION
    network: NetworkSpec = NetworkSpec()
    control_plane: ControlPlaneSpec
    pools: list[PoolSpec] = []
    endpoint: EndpointSpec = EndpointSpec()
    cni: Literal["cilium", "calico"] = "cilium"
    packages: PackagesSpec = PackagesSpec()
    image_repository: NonEmpty = Field("registry.k8s.io", description="where kubeadm pulls control-plane images")
    registry_mirrors: dict[NonEmpty, list[HttpUrl]] = Field(
        default={}, description="registry host (docker.io, registry.k8s.io, ...) -> mirror URLs tried in order"
    )
    pki: PkiSpec = PkiSpec()
    readiness_timeout_seconds: Int = Field(1200, ge=10, le=7200)

    @field_validator("name")
    @classmethod
    def _short_enough(cls, value: str) -> str:
        # Node names are <cluster>-<pool>-<index> and must stay a DNS label.
        if len(value) > 20:
            raise _problem(f"{value!r} is not allowed; use at most 20 characters (node names derive from it)")
        return value

    @field_validator("pools")
    @classmethod
    def _unique_names(cls, pools: list[PoolSpec]) -> list[PoolSpec]:
        seen: set[str] = set()
        for index, pool in enumerate(pools):
            if pool.name in seen:
                raise _problem(f"{pool.name!r} is not allowed; pool names must be unique", key=f"[{index}].name")
            seen.add(pool.name)
        return pools

    @model_validator(mode="after")
    def _fits(self) -> ClusterSpec:
        for index, pool in enumerate(self.pools):
            # Node names are hostnames: <cluster>-<pool>-<index>, at most 63 characters.
            longest = f"{self.name}-{pool.name}-{max(pool.count - 1, 0)}"
            if len(longest) > 63:
                raise _problem(
                    f"{pool.name!r} is not allowed; node {longest!r} would be longer than 63 characters",
                    key=f"cluster.pools[{index}].name",
                    absolute=True,
                )
        nodes = self.control_plane.count + sum(pool.count for pool in self.pools)
        node_network = ipaddress.ip_network(self.network.node_cidr)
        # The network and broadcast addresses, the gateway and the API endpoint take one each.
        if nodes + 4 > node_network.num_addresses:
            raise _problem(
                f"{node_network} is not allowed; it holds {max(node_network.num_addresses - 4, 0)} nodes, "
                f"the cluster has {nodes}",
                key="cluster.network.nodeCidr",
                absolute=True,
            )
        if any(pool.virtualization for pool in self.pools) and not any(
            pool.count > 0 and not pool.virtualization for pool in self.pools
        ):
            raise _problem(
                "only virtualization pools given; KubeVirt's and CDI's own services run off them, "
                "so add a worker pool without virtualization",
                key="cluster.pools",
                absolute=True,
            )
        return self


class OpenStackNetworkSpec(Spec):
    existing: NonEmpty | None = Field(None, description="name or ID of a network to reuse; omit to create one")
    existing_subnet: NonEmpty | None = Field(
        None, description="name or ID of the subnet to use in the reused network; default: the one with the node CIDR"
    )
    dns_nameservers: list[IPv4] = []

    @model_validator(mode="after")
    def _subnet_needs_network(self) -> OpenStackNetworkSpec:
        if self.existing_subnet and not self.existing:
            raise _problem(
                f"{self.existing_subnet!r} is not allowed without network.existing; name the network to reuse",
                key="existingSubnet",
            )
        return self


class OpenStackCloudProviderSpec(Spec):
    """Credentials of the cloud controller manager and Cinder CSI (an application credential)."""

    auth_url: HttpUrl
    application_credential_id: NonEmpty
    application_credential_secret: Secret
    ca_certificate: NonEmpty | None = Field(None, description="PEM of the CA that signed Keystone's certificate")
    ignore_volume_az: bool = Field(
        False, description="Cinder's availability zones differ from Nova's: attach volumes across zones"
    )


class OpenStackSpec(Spec):
    network: OpenStackNetworkSpec = OpenStackNetworkSpec()
    external_network: NonEmpty | None = Field(
        None, description="external network for the router and floating IPs"
    )
    image: NonEmpty
    flavors: dict[NonEmpty, NonEmpty] = Field(description="size name used by pools -> OpenStack flavor name")
    availability_zones: list[NonEmpty] = []
    boot_volume_size: Int = Field(50, ge=10, le=16384, description="GiB")
    boot_volume_type: NonEmpty | None = None
    key_pair: NonEmpty | None = None
    ssh_allowed_cidrs: list[Cidr] = []
    region: NonEmpty | None = None
    cloud_provider: OpenStackCloudProviderSpec | None = Field(
        None, description="run the OpenStack cloud controller manager and Cinder CSI with these credentials"
    )
    kvm_flavors: list[NonEmpty] = Field(
        default=[], description="flavors the cloud operator prepared to expose /dev/kvm (nested virtualization, bare metal)"
    )


class ChartSpec(Spec):
    """A Helm chart at a pinned version; point ``repository`` at a mirror for air-gapped sites."""

    repository: HttpUrl
    version: NonEmpty


class ChartsSpec(Spec):
    cilium: ChartSpec = ChartSpec(repository="https://helm.cilium.io/", version=CILIUM_VERSION)
    calico: ChartSpec = ChartSpec(repository="https://docs.tigera.io/calico/charts", version=CALICO_VERSION)
    openstack_cloud_controller_manager: ChartSpec = ChartSpec(
        repository="https://kubernetes.github.io/cloud-provider-openstack", version=OPENSTACK_CCM_VERSION
    )
    cinder_csi: ChartSpec = ChartSpec(
        repository="https://kubernetes.github.io/cloud-provider-openstack", version=CINDER_CSI_VERSION
    )


class StorageClassSpec(Spec):
    name: DnsLabel = "standard"
    volume_type: NonEmpty | None = Field(None, description="Cinder volume type; the cloud's default when unset")
    reclaim_policy: Literal["Delete", "Retain"] = "Delete"
    read_write_many: bool = Field(
        False, description="volumes can attach to two nodes at once (multi-attach), which live migration needs"
    )


class ManifestSource(Spec):
    """Where an operator's release manifest comes from: the release URL (default), a mirror or a file."""

    url: HttpUrl | None = Field(None, description="a mirror of the release manifest")
    file: NonEmpty | None = Field(None, description="a local copy, relative to the project directory")
    sha256: Sha256 | None = Field(None, description="digest the manifest must have; checked before use")

    @model_validator(mode="after")
    def _one_source(self) -> ManifestSource:
        if self.url and self.file:
            raise _problem(f"{self.file!r} is not allowed together with url; give a url or a file", key="file")
        return self


class KubeVirtSpec(Spec):
    version: NonEmpty = KUBEVIRT_VERSION
    operator_manifest: ManifestSource = ManifestSource()
    use_emulation: bool = Field(
        False, description="run VMs without /dev/kvm by software emulation: slow, for tests and demos only"
    )
    feature_gates: list[NonEmpty] = []
    image_registry: NonEmpty | None = Field(None, description="registry holding the KubeVirt images (a mirror)")
    workload_update_methods: list[Literal["LiveMigrate", "Evict"]] | None = Field(
        None, description="default: LiveMigrate when the storage class is ReadWriteMany, else none"
    )


class CdiSpec(Spec):
    version: NonEmpty = CDI_VERSION
    operator_manifest: ManifestSource = ManifestSource()
    feature_gates: list[NonEmpty] = ["HonorWaitForFirstConsumer"]
    upload_proxy: bool = Field(False, description="expose the upload proxy (virtctl image-upload) by a load balancer")


class MultusSpec(Spec):
    enabled: bool = False
    version: NonEmpty = MULTUS_VERSION
    manifest: ManifestSource = ManifestSource()


class AddonsSpec(Spec):
    charts: ChartsSpec = ChartsSpec()
    storage_class: StorageClassSpec = StorageClassSpec()
    kubevirt: KubeVirtSpec = KubeVirtSpec()
    cdi: CdiSpec = CdiSpec()
    multus: MultusSpec = MultusSpec()


class ContainerAppSpec(Spec):
    """A stateless app in containers: a Deployment and its Service."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    image: NonEmpty
    replicas: Count = 2
    port: Port


def _port_name(value: str) -> str:
    if len(value) > 15:
        raise _problem(f"{value!r} is not allowed; a port name has at most 15 characters")
    return value


class VmPortSpec(Spec):
    name: Annotated[str, BeforeValidator(_strict_str), AfterValidator(_dns_label), AfterValidator(_port_name)]
    port: Port
    protocol: Literal["TCP", "UDP"] = "TCP"


class VmDiskSpec(Spec):
    source: DiskSource
    size: Annotated[str, BeforeValidator(_strict_str), AfterValidator(_quantity), AfterValidator(_at_least("1Gi"))]
    storage_class: DnsLabel | None = Field(None, description="default: the cluster's default StorageClass")


class VirtualMachineSpec(Spec):
    """A legacy VM lifted and shifted: its disk imported into the cluster, then run by KubeVirt."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    disk: VmDiskSpec
    cpu: Int = Field(1, ge=1, le=256)
    memory: Annotated[str, BeforeValidator(_strict_str), AfterValidator(_quantity), AfterValidator(_at_least("128Mi"))]
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
                raise _problem(f"{name!r} is not allowed; port names must be unique", key=f"[{index}].name")
        return ports


class WorkloadsSpec(Spec):
    containers: list[ContainerAppSpec] = []
    virtual_machines: list[VirtualMachineSpec] = []


class StackSpec(Spec):
    """The whole validated stack: the cluster and the platform it runs on."""

    cluster: ClusterSpec
    addons: AddonsSpec = AddonsSpec()
    workloads: WorkloadsSpec = WorkloadsSpec()
    openstack: OpenStackSpec | None = None

    @property
    def virtualization(self) -> bool:
        return any(pool.virtualization for pool in self.cluster.pools)

    @property
    def platform(self) -> str:
        return next(name for name in PLATFORMS if getattr(self, name) is not None)

    @model_validator(mode="after")
    def _platform_consistent(self) -> StackSpec:
        present = [name for name in PLATFORMS if getattr(self, name) is not None]
        if len(present) != 1:
            raise _problem(
                f"{len(present)} platform sections given ({', '.join(present) or 'none'}); "
                f"set exactly one of: {', '.join(f'{NAMESPACE}:{name}' for name in PLATFORMS)}",
                key=PLATFORMS[0] if not present else present[1],
            )
        if self.openstack is not None:
            self._check_openstack(self.openstack)
        self._check_workloads()
        return self

    def _has_default_storage(self) -> bool:
        return self.openstack is not None and self.openstack.cloud_provider is not None

    def _check_workloads(self) -> None:
        workloads = self.workloads
        apps = [app.name for app in workloads.containers]
        names = apps + [vm.name for vm in workloads.virtual_machines]
        for index, vm in enumerate(workloads.virtual_machines):
            path = f"workloads.virtualMachines[{index}]"
            if not self.virtualization:
                raise _problem(
                    f"{vm.name!r} needs a pool marked for virtualization; set virtualization: true on a pool in cluster.pools",
                    key=path,
                    absolute=True,
                )
            if vm.disk.storage_class is None and not self._has_default_storage():
                raise _problem(
                    "no default StorageClass exists for the VM's disk; set openstack.cloudProvider "
                    "(Cinder CSI makes one) or name a StorageClass",
                    key=f"{path}.disk.storageClass",
                    absolute=True,
                )
            if vm.networks and not self.addons.multus.enabled:
                raise _problem(
                    f"{vm.networks!r} is not allowed without Multus; set addons.multus.enabled: true",
                    key=f"{path}.networks",
                    absolute=True,
                )
            for source in vm.allow_from:
                if source not in apps:
                    raise _problem(
                        f"{source!r} is not allowed; name a container app in workloads.containers: {', '.join(apps) or 'none'}",
                        key=f"{path}.allowFrom",
                        absolute=True,
                    )
        for index, name in enumerate(names):
            if name in names[:index]:
                raise _problem(f"{name!r} is not allowed; workload names must be unique", key="workloads", absolute=True)

    def _check_openstack(self, openstack: OpenStackSpec) -> None:
        sizes = {"cluster.controlPlane.size": self.cluster.control_plane.size}
        sizes.update({f"cluster.pools[{i}].size": pool.size for i, pool in enumerate(self.cluster.pools)})
        for path, size in sizes.items():
            if size not in openstack.flavors:
                raise _problem(
                    f"{size!r} is not allowed; use a size defined in openstack.flavors: "
                    f"{', '.join(sorted(openstack.flavors))}",
                    key=path,
                    absolute=True,
                )
        for index, pool in enumerate(self.cluster.pools):
            flavor = openstack.flavors[pool.size]
            if pool.virtualization and flavor not in openstack.kvm_flavors and not self.addons.kubevirt.use_emulation:
                raise _problem(
                    f"pool {pool.name!r} cannot run VMs with KVM: its flavor {flavor!r} is not in openstack.kvmFlavors; "
                    "add the flavor there if the cloud operator prepared it for nested virtualization (or bare metal), "
                    "or set addons.kubevirt.useEmulation: true to emulate without KVM (slow, for tests only)",
                    key=f"cluster.pools[{index}]",
                    absolute=True,
                )
        needs_external = openstack.network.existing is None or self.cluster.endpoint.public
        if needs_external and openstack.external_network is None:
            reason = "a public endpoint" if self.cluster.endpoint.public else "the router of a created network"
            raise _problem(
                f"missing; {reason} needs the name of an external network", key="openstack.externalNetwork", absolute=True
            )


# --- loading and error reporting ---------------------------------------------------------


def parse_stack_config(config: Mapping[str, Any]) -> StackSpec:
    """Validate the ``hybrid-infra:*`` keys of a stack's config (values already decoded from YAML or JSON).

    Keys of other namespaces (provider settings such as ``openstack:authUrl``) are left to their owners.
    """
    sections: dict[str, Any] = {}
    problems: list[str] = []
    allowed = list(StackSpec.model_fields)
    for key, value in config.items():
        namespace, sep, name = key.partition(":")
        if namespace != NAMESPACE or not sep:
            continue
        if name not in allowed:
            problems.append(f"{key}: unknown key{_suggestion(name, allowed, prefix=NAMESPACE + ':')}")
            continue
        sections[name] = value
    try:
        spec = StackSpec.model_validate(sections)
    except ValidationError as error:
        for line in format_errors(error, StackSpec):
            # A whole section is a config key of its own: name it as the stack file does.
            section, sep, rest = line.partition(": ")
            problems.append(f"{NAMESPACE}:{line}" if section in allowed and rest == "required key is missing" else line)
    if problems:
        raise ConfigError(problems)
    return spec


def validate(model: type[BaseModel], value: Any, path: str = "") -> Any:
    """Validate one component argument with the same messages as stack config."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise ConfigError(format_errors(error, model, path)) from None


def format_errors(error: ValidationError, root: type[BaseModel], prefix: str = "") -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        loc = list(item["loc"])
        ctx = item.get("ctx") or {}
        if item["type"] == "hybrid_infra":
            if ctx.get("key"):
                loc = [ctx["key"]] if ctx.get("absolute") else loc + [ctx["key"]]
            message = ctx["message"]
        else:
            message = _message(item, root, loc)
        lines.append(f"{_path(loc, prefix)}: {message}")
    return lines


def _message(item: Mapping[str, Any], root: type[BaseModel], loc: list[Any]) -> str:
    kind = item["type"]
    given = item.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = [field.alias or name for name, field in model.model_fields.items()] if model else []
        return f"unknown key{_suggestion(str(loc[-1]), allowed)}"
    if kind == "literal_error":
        return f"{given!r} is not allowed; use one of {item['ctx']['expected']}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{given!r} is not allowed; expected a whole number"
    if kind in ("bool_type", "bool_parsing"):
        return f"{given!r} is not allowed; expected true or false"
    if kind in ("list_type",):
        return f"{given!r} is not allowed; expected a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{given!r} is not allowed; expected a mapping of keys to values"
    if kind in ("string_type",):
        return f"{given!r} is not allowed; expected a string"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        limit = next(iter(item["ctx"].values()))
        relation = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
        return f"{given!r} is not allowed; use a number {relation[kind]} {limit}"
    return f"{given!r} is not allowed; {item['msg'][0].lower()}{item['msg'][1:]}"


def _suggestion(word: str, allowed: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, allowed, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{prefix}{close[0]}'?"
    return f"; allowed keys: {', '.join(allowed)}" if allowed else ""


def _path(loc: list[Any], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for part in loc:
        if part == "[key]":  # pydantic marks an invalid dict key this way; the key itself is named already
            continue
        if isinstance(part, int):
            part = f"[{part}]"
        if part.startswith("[") and parts:
            parts[-1] += part
        else:
            parts.append(part)
    return ".".join(parts) or "(top level)"


def _model_at(root: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    """The model class reached by following ``loc`` (aliases and list indexes) from ``root``."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        current = _model_in(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_in(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
        return None
    return annotation


def from_pulumi_config() -> StackSpec:
    """The running Pulumi program's stack config, validated (structured values arrive as JSON)."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {}
    for key, value in runtime_config.CONFIG.get().items():
        try:
            raw[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            raw[key] = value
    return parse_stack_config(raw)
