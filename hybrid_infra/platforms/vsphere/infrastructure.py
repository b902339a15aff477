"""VSphereInfrastructure: the inventory look-ups and the network at once; the endpoint, node pools and
cloud provider on request."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_vsphere as vsphere

from ...config.addons import AddonsSpec
from ...config.cluster import ClusterSpec
from ...topology import NodeGroup, PlatformHints
from ..contract import ApiEndpoint, Infrastructure
from .cloud_provider import VSphereCloudProvider
from .config import VSphereSpec
from .endpoint import VSphereApiEndpoint
from .network import VSphereNetwork
from .nodes import GUESTINFO_MAX_VALUE, VSphereNodePool, look_up_inventory

GUESTINFO_MAX_USER_DATA = GUESTINFO_MAX_VALUE * 3 // 4 - 1024
"""The largest cloud-config whose guestinfo value fits, counting on no compression: base64 takes 4
bytes for 3, and 1 KiB is left for gzip's header and its blocks of stored data."""


class VSphereInfrastructure(Infrastructure):
    """The vCenter inventory and the port group of one cluster, parent of its endpoint and node pools."""

    platform = "vsphere"
    type_token = "hybrid-infra:index:VSphereInfrastructure"
    network: VSphereNetwork
    """The port group the nodes attach to, and their addresses."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        section: VSphereSpec,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(name, cluster, section, opts)
        self.spec = section
        # With credentials, the vSphere cloud provider initialises the nodes.
        self.hints = PlatformHints(
            cloud_provider_external=section.cloud_provider is not None, max_user_data=GUESTINFO_MAX_USER_DATA
        )
        datacenter_id = vsphere.get_datacenter_output(
            name=section.datacenter, opts=pulumi.InvokeOutputOptions(parent=self)
        ).id
        self.network = VSphereNetwork(
            f"{name}-network", cluster, section.network, datacenter_id, pulumi.ResourceOptions(parent=self)
        )
        self.inventory = look_up_inventory(section, datacenter_id, self)
        # The looked-up template too, so that a plan's reader can follow the VMs' clone source.
        self.register_outputs(
            {
                "networkId": self.network.network_id,
                "computeClusterId": self.inventory.compute_cluster_id,
                "templateUuid": self.inventory.template.apply(lambda found: found.id),
            }
        )

    def create_endpoint(self, name: str) -> VSphereApiEndpoint:
        return VSphereApiEndpoint(name, self.cluster, self.spec, pulumi.ResourceOptions(parent=self))

    def create_node_pool(
        self, name: str, group: NodeGroup, user_data: Sequence[pulumi.Input[str]], endpoint: ApiEndpoint
    ) -> VSphereNodePool:
        return VSphereNodePool(
            name, group, user_data, self.spec, self.network, self.inventory, endpoint, pulumi.ResourceOptions(parent=self)
        )

    def create_cloud_provider(
        self, name: str, addons: AddonsSpec, opts: pulumi.ResourceOptions
    ) -> VSphereCloudProvider | None:
        if self.spec.cloud_provider is None:
            return None
        return VSphereCloudProvider(name, self.cluster, addons, self.spec, opts)


INFRASTRUCTURE = VSphereInfrastructure
