"""The ``hybrid-infra:openstack`` section: its model, its checks across sections, its chart pins."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from ...config.addons import ChartSpec
from ...config.errors import problem, raise_problems
from ...config.fields import Cidr, HttpUrl, Int, IPv4, NonEmpty, Secret, Spec
from ...config.versions import Pin, kept_pins
from ...topology import NodeGroup
from ..contract import PlatformSection, PoolPlacement

if TYPE_CHECKING:
    from ...config.cluster import ClusterSpec
    from ...stack import StackSpec

CHART_REPOSITORY = "https://kubernetes.github.io/cloud-provider-openstack"
CCM_VERSION = "2.35.0"
CINDER_CSI_VERSION = "2.35.0"
"""Charts openstack-cloud-controller-manager and openstack-cinder-csi 2.35.0 run v1.35.0, the release
for Kubernetes 1.35 (kubernetes/cloud-provider-openstack, tags openstack-cloud-controller-manager-2.35.0
and openstack-cinder-csi-2.35.0, Chart.yaml appVersion)."""
PINS = {
    "cloudControllerManager": Pin(
        "OpenStack cloud controller manager chart",
        CCM_VERSION,
        ("1.35", "1.35"),
        "kubernetes/cloud-provider-openstack v1.35.0, docs/cinder-csi-plugin/using-cinder-csi-plugin.md "
        "(a release per Kubernetes release) and docs/release-procedure.md",
    ),
    "cinderCsi": Pin(
        "Cinder CSI chart",
        CINDER_CSI_VERSION,
        ("1.35", "1.35"),
        "kubernetes/cloud-provider-openstack v1.35.0, docs/cinder-csi-plugin/using-cinder-csi-plugin.md",
    ),
}
NOVA_SERVER_GROUP_MEMBERS = 10
"""Nova's default quota of servers per server group: ``[quota] server_group_members`` (openstack/nova,
nova/conf/quota.py: ``cfg.IntOpt('server_group_members', min=-1, default=10)``, "The maximum number of
servers per server group"; -1 lifts it)."""
LOAD_BALANCER_PROVIDER = "amphora"
"""Octavia's amphora driver, for the API endpoint and Services alike: the OVN driver has no HTTPS
health monitors (ovn-octavia-provider 10.0.0: TCP and UDP-CONNECT only)."""


class OpenStackNetworkSpec(Spec):
    existing: NonEmpty | None = Field(None, description="name or ID of a network to reuse; omit to create one")
    existing_subnet: NonEmpty | None = Field(
        None, description="name or ID of the subnet to use in the reused network; default: the one with the node CIDR"
    )
    dns_nameservers: list[IPv4] = []

    @model_validator(mode="after")
    def _subnet_needs_network(self) -> OpenStackNetworkSpec:
        if self.existing_subnet and not self.existing:
            raise problem(
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


class OpenStackChartsSpec(Spec):
    """The cloud provider's charts at pinned versions; point ``repository`` at a mirror for air-gapped sites."""

    cloud_controller_manager: ChartSpec = ChartSpec(repository=CHART_REPOSITORY, version=CCM_VERSION)
    cinder_csi: ChartSpec = ChartSpec(repository=CHART_REPOSITORY, version=CINDER_CSI_VERSION)


class OpenStackStorageClassSpec(Spec):
    """Parameters of the default StorageClass Cinder CSI backs (``addons.storageClass`` holds the rest)."""

    volume_type: NonEmpty | None = Field(None, description="Cinder volume type; the cloud's default when unset")


class OpenStackSpec(PlatformSection):
    stack_key: ClassVar[str] = "openstack"

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
    max_server_group_members: Int = Field(
        NOVA_SERVER_GROUP_MEMBERS,
        ge=1,
        description="the project's Nova quota server_group_members: the most nodes a pool (one server group) may have",
    )

    charts: OpenStackChartsSpec = OpenStackChartsSpec()
    storage_class: OpenStackStorageClassSpec = OpenStackStorageClassSpec()

    storage_class_hint: ClassVar[str] = "set openstack.cloudProvider (Cinder CSI makes one)"
    size_map: ClassVar[str | None] = "flavors"

    def provides_storage_class(self) -> bool:
        return self.cloud_provider is not None

    def placement(self, group: NodeGroup) -> PoolPlacement:
        return PoolPlacement(self.flavors.get(group.size, "-"), tuple(self.availability_zones))

    def zones(self) -> list[str]:
        return list(self.availability_zones) or ["the cloud's default zone"]

    def versions(self) -> list[str]:
        if self.cloud_provider is None:
            return []
        return [
            f"OpenStack CCM {self.charts.cloud_controller_manager.version}",
            f"Cinder CSI {self.charts.cinder_csi.version}",
        ]

    def pins(self) -> list[Pin]:
        if self.cloud_provider is None:
            return []
        charts = self.charts
        chosen = {"cloudControllerManager": charts.cloud_controller_manager.version, "cinderCsi": charts.cinder_csi.version}
        return kept_pins(PINS, chosen)

    def check(self, stack: StackSpec) -> None:
        cluster = stack.cluster
        found: list[PydanticCustomError] = []
        for index, pool in enumerate(cluster.pools):
            flavor = self.flavors.get(pool.size)  # None: refused by its size already
            kvm = flavor is None or flavor in self.kvm_flavors
            if pool.virtualization and not kvm and not stack.addons.kubevirt.use_emulation:
                found.append(
                    problem(
                        f"pool {pool.name!r} cannot run VMs with KVM: its flavor {flavor!r} is not in openstack.kvmFlavors; "
                        "add the flavor there if the cloud operator prepared it for nested virtualization (or bare metal), "
                        "or set addons.kubevirt.useEmulation: true to emulate without KVM (slow, for tests only)",
                        key=f"cluster.pools[{index}]",
                        absolute=True,
                    )
                )
        needs_external = self.network.existing is None or cluster.endpoint.public
        if needs_external and self.external_network is None:
            reason = "a public endpoint" if cluster.endpoint.public else "the router of a created network"
            found.append(
                problem(
                    f"missing; {reason} needs the name of an external network",
                    key="openstack.externalNetwork",
                    absolute=True,
                )
            )
        found += self._server_group_problems(cluster)
        raise_problems(found)

    def _server_group_problems(self, cluster: ClusterSpec) -> list[PydanticCustomError]:
        """Each pool is one Nova server group (nodes.py), which takes at most the project's
        ``server_group_members`` quota of servers: a larger pool would fail halfway through `pulumi up`."""
        limit = self.max_server_group_members
        control_plane = cluster.control_plane
        pools = [("cluster.controlPlane.count", "the control plane is", control_plane.count, control_plane.platform)]
        pools += [
            (f"cluster.pools[{i}].count", f"pool {pool.name!r} is", pool.count, pool.platform)
            for i, pool in enumerate(cluster.pools)
        ]
        return [
            problem(
                f"{count} is not allowed; {who} one Nova server group, which holds at most {limit} servers "
                f"(openstack.maxServerGroupMembers, the project's server_group_members quota: Nova's default is "
                f"{NOVA_SERVER_GROUP_MEMBERS}); run at most {limit} nodes there, or have the quota raised and set "
                "openstack.maxServerGroupMembers to it",
                key=key,
                absolute=True,
            )
            for key, who, count, platform in pools
            if platform in (None, "openstack") and count > limit
        ]


SECTION = OpenStackSpec
