"""VSphereInfrastructure: the inventory look-ups and the network at once; the endpoint, node pools and
cloud provider on request."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_vsphere as vsphere

from ...config.addons import AddonsSpec
from ...config.cluster import ClusterSpec
from ...topology import NodeGroup, PlatformHints
from ..contract import ApiEndpoint, Infrastructure, look_up
from .cloud_provider import VSphereCloudProvider
from .config import VSphereSpec
from .endpoint import VSphereApiEndpoint
from .network import VSphereNetwork
from .nodes import GUESTINFO_MAX_VALUE, Inventory, VSphereNodePool

GUESTINFO_MAX_USER_DATA = GUESTINFO_MAX_VALUE * 3 // 4 - 1024
"""The largest cloud-config whose guestinfo value fits, counting on no compression: base64 takes 4
bytes for 3, and 1 KiB is left for gzip's header and its blocks of stored data."""


class VSphereInfrastructure(Infrastructure[VSphereSpec]):
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
        # Before anything of the cluster is registered: an inventory object that does not exist is one line.
        self.inventory = self.look_up_inventory()
        self.network = VSphereNetwork(
            f"{name}-network",
            cluster,
            section.network,
            section.datacenter,
            self.inventory.datacenter_id,
            pulumi.ResourceOptions(parent=self),
        )
        # The looked-up template too, so that a plan's reader can follow the VMs' clone source.
        self.register_outputs(
            {
                "networkId": self.network.network_id,
                "computeClusterId": self.inventory.compute_cluster_id,
                "templateUuid": self.inventory.template.id,
            }
        )

    def look_up_inventory(self) -> Inventory:
        """The datacenter, compute cluster, resource pool, datastore (or datastore cluster) and template the
        section names, found in vCenter; a failed look-up is one line naming its key."""
        spec = self.spec
        invoke = pulumi.InvokeOptions(parent=self)
        datacenter = f"in datacenter {spec.datacenter!r}"
        datacenter_id = look_up(
            "vsphere.datacenter",
            f"the look-up of the datacenter {spec.datacenter!r}",
            lambda: vsphere.get_datacenter(name=spec.datacenter, opts=invoke),
        ).id
        cluster = look_up(
            "vsphere.computeCluster",
            f"the look-up of the compute cluster {spec.compute_cluster!r} {datacenter}",
            lambda: vsphere.get_compute_cluster(name=spec.compute_cluster, datacenter_id=datacenter_id, opts=invoke),
        )
        resource_pool_id = cluster.resource_pool_id
        if spec.resource_pool is not None:
            resource_pool = spec.resource_pool
            resource_pool_id = look_up(
                "vsphere.resourcePool",
                f"the look-up of the resource pool {resource_pool!r} in compute cluster {spec.compute_cluster!r}",
                lambda: vsphere.get_resource_pool(
                    name=resource_pool, parent_resource_pool_id=cluster.resource_pool_id, opts=invoke
                ),
            ).id
        datastore_id = datastore_cluster_id = None
        if spec.datastore is not None:
            datastore = spec.datastore
            datastore_id = look_up(
                "vsphere.datastore",
                f"the look-up of the datastore {datastore!r} {datacenter}",
                lambda: vsphere.get_datastore(name=datastore, datacenter_id=datacenter_id, opts=invoke),
            ).id
        else:
            datastore_cluster = spec.datastore_cluster
            datastore_cluster_id = look_up(
                "vsphere.datastoreCluster",
                f"the look-up of the datastore cluster {datastore_cluster!r} {datacenter}",
                lambda: vsphere.get_datastore_cluster(name=datastore_cluster, datacenter_id=datacenter_id, opts=invoke),
            ).id
        template = look_up(
            "vsphere.template",
            f"the look-up of the template {spec.template!r} {datacenter}",
            lambda: vsphere.get_virtual_machine(name=spec.template, datacenter_id=datacenter_id, opts=invoke),
        )
        return Inventory(datacenter_id, cluster.id, resource_pool_id, datastore_id, datastore_cluster_id, template)

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
