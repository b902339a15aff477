"""The ``hybrid-infra:openstack`` section as typed arguments of the component provider (no SDK).

The same keys as :mod:`.config`, which validates them; the provider's schema takes its types and
descriptions from here.
"""

# No `from __future__ import annotations`: the analyzer of Pulumi's component provider reads the
# annotations as objects (NotRequired among them).
from typing import NotRequired, TypedDict

import pulumi

from ...config.args import ChartSpec


class OpenStackNetworkSpec(TypedDict):
    """The node network: created, or an existing one reused."""

    existing: NotRequired[str]
    """Name or ID of a network to reuse; omitted: one is created."""
    existing_subnet: NotRequired[str]
    """Name or ID of the subnet to use in the reused network; default: the one with the node CIDR."""
    dns_nameservers: NotRequired[list[str]]
    """DNS servers of a created subnet."""


class OpenStackCloudProviderSpec(TypedDict):
    """Credentials of the cloud controller manager and Cinder CSI: an application credential."""

    auth_url: str
    """Keystone URL."""
    application_credential_id: str
    """ID of the application credential."""
    application_credential_secret: pulumi.Input[str]
    """Its secret; give it as a secret."""
    ca_certificate: NotRequired[str]
    """PEM of the CA that signed Keystone's certificate."""
    ignore_volume_az: NotRequired[bool]
    """Cinder's availability zones differ from Nova's: attach volumes across zones."""


class OpenStackChartsSpec(TypedDict):
    """The cloud provider's charts at pinned versions."""

    cloud_controller_manager: NotRequired[ChartSpec]
    """openstack-cloud-controller-manager."""
    cinder_csi: NotRequired[ChartSpec]
    """openstack-cinder-csi."""


class OpenStackStorageClassSpec(TypedDict):
    """Parameters of the default StorageClass Cinder CSI backs."""

    volume_type: NotRequired[str]
    """Cinder volume type; the cloud's default when unset."""


class OpenStackSpec(TypedDict):
    """OpenStack: Neutron network, Octavia or kube-vip endpoint, Nova nodes on Cinder volumes (docs/platforms/openstack.md)."""

    network: NotRequired[OpenStackNetworkSpec]
    """The node network."""
    external_network: NotRequired[str]
    """External network for the router and floating IPs."""
    image: str
    """Image the nodes boot."""
    flavors: dict[str, str]
    """Size name used by pools -> OpenStack flavor name."""
    availability_zones: NotRequired[list[str]]
    """Zones the nodes spread over, in turn."""
    boot_volume_size: NotRequired[int]
    """Boot volume of every node, in GiB (10 to 16384; 50 by default)."""
    boot_volume_type: NotRequired[str]
    """Cinder volume type of the boot volumes."""
    key_pair: NotRequired[str]
    """Nova key pair given to the nodes."""
    ssh_allowed_cidrs: NotRequired[list[str]]
    """Networks that may reach the nodes by SSH; none by default."""
    region: NotRequired[str]
    """Region of the cloud provider; default: the OpenStack provider's."""
    cloud_provider: NotRequired[OpenStackCloudProviderSpec]
    """Run the cloud controller manager and Cinder CSI with these credentials."""
    kvm_flavors: NotRequired[list[str]]
    """Flavors the cloud operator prepared to expose /dev/kvm (nested virtualization, bare metal)."""
    max_server_group_members: NotRequired[int]
    """The project's Nova quota server_group_members (10 by default, Nova's default): the most nodes a pool,
    one server group, may have."""
    charts: NotRequired[OpenStackChartsSpec]
    """The cloud provider's charts."""
    storage_class: NotRequired[OpenStackStorageClassSpec]
    """Parameters of the default StorageClass."""
