"""The ``hybrid-infra:vsphere`` section: its model, its checks across sections, its pins."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Annotated, ClassVar

from cryptography import x509
from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ...config.addons import ChartSpec, ManifestSource
from ...config.cluster import CONTROL_PLANE_POOL
from ...config.errors import problem, raise_problems
from ...config.fields import (
    DnsLabel,
    HttpUrl,
    Int,
    IPv4,
    NonEmpty,
    Quantity,
    Secret,
    Sha256,
    Spec,
    at_least,
    quantity_bytes,
    strict_str,
)
from ...config.versions import Pin, kept_pins
from ...topology import NodeGroup, node_groups
from ..contract import PlatformSection, PoolPlacement

if TYPE_CHECKING:
    from ...stack import StackSpec

CHART_REPOSITORY = "https://kubernetes.github.io/cloud-provider-vsphere"
CPI_VERSION = "1.35.1"
"""Chart vsphere-cpi 1.35.1 (image cloud-provider-vsphere v1.35.1), the release for Kubernetes 1.35.x in
kubernetes/cloud-provider-vsphere's README version matrix (tag v1.35.1); its index.yaml lists the chart at
this repository."""
CSI_VERSION = "v3.7.3"
"""kubernetes-sigs/vsphere-csi-driver v3.7.3, the newest stable release, of the 3.7 line built against
Kubernetes 1.35 (go.mod at the tag: k8s.io/kubernetes v1.35.0)."""
CSI_MANIFEST_URL = (
    "https://raw.githubusercontent.com/kubernetes-sigs/vsphere-csi-driver/{version}/manifests/vanilla/vsphere-csi-driver.yaml"
)
CSI_MANIFEST_SHA256 = "594c5769f14de0bd89309edca0c15e29efb73bd7e727833965e0ee41dac38531"
"""sha256 of manifests/vanilla/vsphere-csi-driver.yaml at the tag v3.7.3."""
PINS = {
    "cpi": Pin(
        "vSphere CPI chart", CPI_VERSION, ("1.35", "1.35"), "kubernetes/cloud-provider-vsphere v1.35.1, README.md (version matrix)"
    ),
    "csi": Pin(
        "vSphere CSI driver",
        CSI_VERSION,
        ("1.33", "1.35"),
        "vsphere-tmm/helm-charts issue 106 (3.7: Kubernetes 1.33 to 1.35); the repository states none, "
        "its go.mod at v3.7.3 builds against k8s.io/kubernetes v1.35.0",
    ),
}

_THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$")
# What vsphere-csi-driver v3.7.3 accepts (pkg/common/config/config.go, isValidvCenterUsernameWithDomain,
# called from validateConfig): a name without its domain finds no entity, and the driver stops.
_USERNAME_WITH_DOMAIN = re.compile(r"^([A-Za-z0-9.-]+\\[A-Za-z0-9._-]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+)$")


def _address_range(value: str) -> str:
    refused = problem(f"{value!r} is not allowed; use FIRST-LAST IPv4 addresses such as 10.30.0.20-10.30.0.39")
    first, _, last = value.partition("-")
    try:
        low, high = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
    except ValueError:
        raise refused from None
    if low > high:
        raise refused
    return f"{low}-{high}"


AddressRange = Annotated[str, BeforeValidator(strict_str), AfterValidator(_address_range)]


def range_bounds(value: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """The first and last address of a validated ``FIRST-LAST`` range."""
    first, _, last = value.partition("-")
    return ipaddress.IPv4Address(first), ipaddress.IPv4Address(last)


def range_size(value: str) -> int:
    first, last = range_bounds(value)
    return int(last) - int(first) + 1


class VSphereSize(Spec):
    """One machine shape that pools name by ``size``."""

    cpus: Int = Field(ge=1, le=768)
    memory: Quantity = Field(description="whole MiB, at least 1Gi")
    disk: Quantity = Field(description="whole GiB, at least 10Gi; grown to the template's disk if that is larger")
    nested_virtualization: bool = Field(
        False, description="expose hardware virtualization to the guest (nested_hv_enabled), for KubeVirt pools only"
    )

    @field_validator("memory")
    @classmethod
    def _whole_mib(cls, value: str) -> str:
        at_least("1Gi")(value)
        if quantity_bytes(value) % 2**20:
            raise problem(f"{value!r} is not allowed; use whole MiB such as 8Gi or 6144Mi")
        return value

    @field_validator("disk")
    @classmethod
    def _whole_gib(cls, value: str) -> str:
        at_least("10Gi")(value)
        if quantity_bytes(value) % 2**30:
            raise problem(f"{value!r} is not allowed; use whole GiB such as 60Gi")
        return value

    @property
    def memory_mib(self) -> int:
        return quantity_bytes(self.memory) // 2**20

    @property
    def disk_gib(self) -> int:
        return quantity_bytes(self.disk) // 2**30


class VSphereStaticSpec(Spec):
    """Static node addresses: each pool takes its addresses in order from its own range."""

    gateway: IPv4
    dns_servers: list[IPv4] = Field(min_length=1)
    search_domains: list[NonEmpty] = []
    ranges: dict[DnsLabel, AddressRange] = Field(
        description="control-plane and every pool name -> FIRST-LAST; node i of a pool takes FIRST + i"
    )


class VSphereNetworkSpec(Spec):
    port_group: NonEmpty = Field(description="name of the network (port group) every node attaches to")
    dhcp: bool = Field(
        False,
        description="worker pools without a range in static.ranges take addresses from DHCP; the control plane "
        "always has static addresses",
    )
    static: VSphereStaticSpec | None = Field(
        None, description="static addresses: the control plane's always, every worker pool's unless dhcp is true"
    )

    @model_validator(mode="after")
    def _static_control_plane(self) -> VSphereNetworkSpec:
        # etcd names its members by address (each member's peer URL): a control-plane node whose lease
        # brings another address leaves a member nobody reaches.
        if self.static is None and self.dhcp:
            raise problem(
                "true is not allowed for control-plane nodes: etcd knows its members by address, and a DHCP lease "
                "that changes breaks it; give static (gateway, dnsServers, ranges.control-plane) as well, and the "
                "worker pools without a range take DHCP addresses",
                key="dhcp",
            )
        if self.static is None:
            raise problem(
                "missing; give static (gateway, dnsServers, ranges), or dhcp: true with static addresses for the "
                "control plane only",
                key="static",
            )
        return self

    def uses_dhcp(self, pool: str) -> bool:
        """Whether the nodes of ``pool`` take their addresses from DHCP: a worker pool without a range, with dhcp."""
        return self.dhcp and pool != CONTROL_PLANE_POOL and (self.static is None or pool not in self.static.ranges)


class VSphereEndpointSpec(Spec):
    address: IPv4 = Field(
        description="with endpoint type vip, the virtual IP kube-vip announces; with loadBalancer, the address of the "
        "load balancer the user runs in front of the control plane"
    )


class VSphereAntiAffinitySpec(Spec):
    control_plane_mandatory: bool = Field(
        False,
        description="make the control plane's DRS anti-affinity rule mandatory: DRS never puts two of its VMs on one "
        "host, and a host holding one cannot enter maintenance mode unless another host is free for it",
    )
    workers: bool = Field(False, description="also keep each worker pool's VMs on different hosts (a soft DRS rule)")


class VSphereCloudProviderSpec(Spec):
    """vCenter credentials of the vSphere cloud provider (CPI) and CSI driver."""

    server: NonEmpty = Field(description="vCenter host name or address, as its certificate names it")
    username: NonEmpty = Field(description="user@domain or DOMAIN\\user")
    password: Secret
    ca_bundle: NonEmpty | None = Field(
        None,
        description="PEM text of the CA certificates that sign vCenter's certificate (VMCA's root); preferred to "
        "thumbprint, as it still holds when vCenter's certificate is renewed",
    )
    thumbprint: NonEmpty | None = Field(
        None,
        description="SHA-1 fingerprint of vCenter's certificate (hex pairs joined by ':'), not together with "
        "caBundle; default: the images' CAs",
    )

    @field_validator("username")
    @classmethod
    def _with_domain(cls, value: str) -> str:
        if not _USERNAME_WITH_DOMAIN.match(value):
            raise problem(
                f"{value!r} is not allowed; use user@domain or DOMAIN\\user (the CSI driver refuses a name without its domain)"
            )
        return value

    @field_validator("thumbprint")
    @classmethod
    def _hex_pairs(cls, value: str | None) -> str | None:
        if value is not None and not _THUMBPRINT.match(value):
            raise problem(f"{value!r} is not allowed; use hex pairs joined by ':' such as 3A:9F:...:C1")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _pem_certificates(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # The bundle lands in the CPI's ConfigMap, readable in kube-system: never a key.
        if "PRIVATE KEY-----" in value:
            raise problem("a private key is not allowed; give the CA certificates only (they are stored in a ConfigMap)")
        try:
            x509.load_pem_x509_certificates(value.encode())
        except ValueError:
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise problem(
                f"{shown!r} is not allowed; give the PEM text of the CA certificates that sign vCenter's certificate "
                "(-----BEGIN CERTIFICATE----- ...), not a path"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_trust(self) -> VSphereCloudProviderSpec:
        # Both given, the two components would not agree: the CSI driver then ignores the thumbprint
        # (v3.7.3 pkg/common/cns-lib/vsphere/virtualcenter.go, NewClient: ca-file first), while the CPI
        # sets both on its client (v1.35.1 pkg/common/vclib/connection.go, NewClient).
        if self.ca_bundle is not None and self.thumbprint is not None:
            raise problem(
                f"{self.thumbprint!r} is not allowed together with caBundle; give caBundle (it still holds when "
                "vCenter's certificate is renewed) or thumbprint, not both",
                key="thumbprint",
            )
        return self


class VSphereChartsSpec(Spec):
    """The CPI chart at a pinned version; point ``repository`` at a mirror for air-gapped sites."""

    cloud_controller_manager: ChartSpec = ChartSpec(repository=CHART_REPOSITORY, version=CPI_VERSION)


class VSphereCsiDriverSpec(Spec):
    """The CSI driver's release manifest: no chart exists, so it is pinned by version and sha256."""

    version: NonEmpty = CSI_VERSION
    url: HttpUrl | None = Field(None, description="a mirror of the release manifest; needs sha256")
    sha256: Sha256 | None = Field(None, description="digest of the manifest; known for the pinned version")

    @model_validator(mode="after")
    def _pinned(self) -> VSphereCsiDriverSpec:
        if self.sha256 is None and self.url is not None:
            raise problem("missing; a manifest from a custom url must be pinned by its sha256", key="sha256")
        if self.sha256 is None and self.version != CSI_VERSION:
            raise problem(f"missing; version {self.version!r} needs the sha256 of its manifest", key="sha256")
        return self

    @property
    def source(self) -> ManifestSource:
        return ManifestSource(url=self.url, sha256=self.sha256 or CSI_MANIFEST_SHA256)

    @property
    def release_url(self) -> str:
        return CSI_MANIFEST_URL.format(version=self.version)


class VSphereStorageClassSpec(Spec):
    """Parameters of the default StorageClass the CSI driver backs (``addons.storageClass`` holds the rest)."""

    storage_policy: NonEmpty | None = Field(
        None, description="vSphere storage policy (SPBM) of new volumes; the CSI driver's choice when unset"
    )


class VSphereSpec(PlatformSection):
    stack_key: ClassVar[str] = "vsphere"

    datacenter: NonEmpty
    compute_cluster: NonEmpty = Field(description="DRS cluster the VMs run in")
    resource_pool: NonEmpty | None = Field(None, description="resource pool inside the cluster; default: its root")
    datastore: NonEmpty | None = None
    datastore_cluster: NonEmpty | None = Field(None, description="a datastore cluster (Storage DRS) instead of a datastore")
    folder: NonEmpty | None = Field(None, description="VM folder path inside the datacenter; default: its root")
    template: NonEmpty = Field(description="name of the VM template every node is cloned from")
    sizes: dict[NonEmpty, VSphereSize] = Field(description="size name used by pools -> CPUs, memory, disk")
    network: VSphereNetworkSpec
    endpoint: VSphereEndpointSpec
    anti_affinity: VSphereAntiAffinitySpec = VSphereAntiAffinitySpec()
    cloud_provider: VSphereCloudProviderSpec | None = Field(
        None, description="run the vSphere cloud provider (CPI) and CSI driver with these vCenter credentials"
    )
    charts: VSphereChartsSpec = VSphereChartsSpec()
    csi_driver: VSphereCsiDriverSpec = VSphereCsiDriverSpec()
    storage_class: VSphereStorageClassSpec = VSphereStorageClassSpec()

    storage_class_hint: ClassVar[str] = "set vsphere.cloudProvider (the vSphere CSI driver makes one)"
    size_map: ClassVar[str | None] = "sizes"

    @model_validator(mode="after")
    def _one_datastore(self) -> VSphereSpec:
        if self.datastore and self.datastore_cluster:
            raise problem(
                f"{self.datastore_cluster!r} is not allowed together with datastore; give a datastore or a datastore cluster",
                key="datastoreCluster",
            )
        if not self.datastore and not self.datastore_cluster:
            raise problem("missing; name the datastore (or datastoreCluster) the VMs' disks go to", key="datastore")
        return self

    def provides_storage_class(self) -> bool:
        return self.cloud_provider is not None

    def placement(self, group: NodeGroup) -> PoolPlacement:
        size = self.sizes.get(group.size)
        if size is None:
            return PoolPlacement("-")
        nested = ", nested virtualization" if size.nested_virtualization else ""
        return PoolPlacement(f"{size.cpus} vCPU, {size.memory} memory, {size.disk} disk{nested}")

    def zones(self) -> list[str]:
        return [f"compute cluster {self.compute_cluster}"]

    def versions(self) -> list[str]:
        if self.cloud_provider is None:
            return []
        return [f"vSphere CPI {self.charts.cloud_controller_manager.version}", f"vSphere CSI {self.csi_driver.version}"]

    def pins(self) -> list[Pin]:
        if self.cloud_provider is None:
            return []
        return kept_pins(PINS, {"cpi": self.charts.cloud_controller_manager.version, "csi": self.csi_driver.version})

    def check(self, stack: StackSpec) -> None:
        cluster = stack.cluster
        found = self._nested_virtualization_problems(stack)
        if cluster.endpoint.public and cluster.endpoint.type == "vip":
            found.append(
                problem(
                    "true is not allowed with endpoint type vip on vSphere, which has no floating addresses; for an "
                    "API reachable from outside the node network, use type loadBalancer with its address in "
                    "vsphere.endpoint.address",
                    key="cluster.endpoint.public",
                    absolute=True,
                )
            )
        node_network = ipaddress.IPv4Network(cluster.network.node_cidr)
        if self.network.static is not None:
            found += self._static_problems(self.network.static, stack, node_network)
        found += self._endpoint_problems(stack, node_network)
        raise_problems(found)

    def _nested_virtualization_problems(self, stack: StackSpec) -> list[PydanticCustomError]:
        # A size the section does not define is refused by its size already.
        found = []
        size = stack.cluster.control_plane.size
        if size in self.sizes and self.sizes[size].nested_virtualization:
            found.append(
                problem(
                    f"{size!r} is not allowed; vsphere.sizes.{size}.nestedVirtualization is true, which only pools "
                    "marked virtualization: true may use",
                    key="cluster.controlPlane.size",
                    absolute=True,
                )
            )
        for index, pool in enumerate(stack.cluster.pools):
            if pool.size not in self.sizes:
                continue
            nested = self.sizes[pool.size].nested_virtualization
            if nested and not pool.virtualization:
                found.append(
                    problem(
                        f"pool {pool.name!r} is not marked for virtualization, but its size {pool.size!r} enables nested "
                        f"virtualization (vsphere.sizes.{pool.size}.nestedVirtualization); use a size without it, "
                        "or set virtualization: true",
                        key=f"cluster.pools[{index}]",
                        absolute=True,
                    )
                )
            if pool.virtualization and not nested and not stack.addons.kubevirt.use_emulation:
                found.append(
                    problem(
                        f"pool {pool.name!r} cannot run VMs with KVM: its size {pool.size!r} does not enable nested "
                        f"virtualization; set vsphere.sizes.{pool.size}.nestedVirtualization: true, or "
                        "addons.kubevirt.useEmulation: true to emulate without KVM (slow, for tests only)",
                        key=f"cluster.pools[{index}]",
                        absolute=True,
                    )
                )
        return found

    def _static_problems(
        self, static: VSphereStaticSpec, stack: StackSpec, node_network: ipaddress.IPv4Network
    ) -> list[PydanticCustomError]:
        key = "vsphere.network.static"
        found = []
        usable = (node_network.network_address + 1, node_network.broadcast_address - 1)
        gateway = ipaddress.IPv4Address(static.gateway)
        if not usable[0] <= gateway <= usable[1]:
            found.append(
                problem(
                    f"{static.gateway!r} is not allowed; the gateway must be a host address of cluster.network.nodeCidr "
                    f"{node_network}",
                    key=f"{key}.gateway",
                    absolute=True,
                )
            )
        counts = {group.name: group.count for group in node_groups(stack.cluster)}
        found += [
            problem(
                f"unknown pool; name {CONTROL_PLANE_POOL} or a pool of cluster.pools: "
                f"{', '.join(n for n in counts if n != CONTROL_PLANE_POOL) or 'none'}",
                key=f"{key}.ranges.{name}",
                absolute=True,
            )
            for name in static.ranges
            if name not in counts
        ]
        claimed: list[tuple[str, ipaddress.IPv4Address, ipaddress.IPv4Address]] = []
        for name, count in counts.items():
            value = static.ranges.get(name)
            where = f"{key}.ranges.{name}"
            if value is None and self.network.uses_dhcp(name):
                continue
            if value is None:
                reason = (
                    "control-plane nodes need static addresses, with dhcp: true too (etcd knows its members by address)"
                    if self.network.dhcp
                    else "every pool needs its own address range, so that scaling one never moves another's nodes"
                )
                found.append(problem(f"missing; {reason}", key=where, absolute=True))
                continue
            first, last = range_bounds(value)
            reasons = []
            if not (usable[0] <= first and last <= usable[1]):
                reasons.append(f"it must lie within the host addresses of cluster.network.nodeCidr {node_network}")
            if first <= gateway <= last:
                reasons.append(f"it holds the gateway {gateway}")
            if range_size(value) < count:
                reasons.append(f"it holds {range_size(value)} addresses and pool {name!r} has {count} nodes")
            reasons += [f"it overlaps the range of pool {other!r}" for other, low, high in claimed if first <= high and low <= last]
            if reasons:
                found.append(problem(f"{value!r} is not allowed; {'; '.join(reasons)}", key=where, absolute=True))
            claimed.append((name, first, last))
        return found

    def _endpoint_problems(self, stack: StackSpec, node_network: ipaddress.IPv4Network) -> list[PydanticCustomError]:
        key = "vsphere.endpoint.address"
        found = []
        address = ipaddress.IPv4Address(self.endpoint.address)
        vip = stack.cluster.endpoint.type == "vip"
        usable = node_network.network_address < address < node_network.broadcast_address
        if vip and not usable:
            found.append(
                problem(
                    f"{self.endpoint.address!r} is not allowed; with endpoint type vip, kube-vip announces the address "
                    f"in the node network, so it must be a host address of cluster.network.nodeCidr {node_network}",
                    key=key,
                    absolute=True,
                )
            )
        static = self.network.static
        if static is None:
            return found
        if address == ipaddress.IPv4Address(static.gateway):
            found.append(problem(f"{self.endpoint.address!r} is not allowed; it is the gateway", key=key, absolute=True))
        for name, value in static.ranges.items():
            first, last = range_bounds(value)
            if first <= address <= last:
                found.append(
                    problem(
                        f"{self.endpoint.address!r} is not allowed; it lies in the address range of pool {name!r} "
                        f"(vsphere.network.static.ranges.{name}); choose an address outside every node range",
                        key=key,
                        absolute=True,
                    )
                )
        return found


SECTION = VSphereSpec
