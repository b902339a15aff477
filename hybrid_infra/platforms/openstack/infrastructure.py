"""OpenStackInfrastructure: the image and the network at once; the endpoint, node pools and cloud provider on request."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_openstack as openstack

from ...config.addons import AddonsSpec
from ...config.cluster import ClusterSpec
from ...topology import NodeGroup, PlatformHints
from ..contract import ApiEndpoint, Infrastructure, look_up
from .cloud_provider import OpenStackCloudProvider
from .config import OpenStackSpec
from .endpoint import OpenStackApiEndpoint
from .network import OpenStackNetwork
from .nodes import OpenStackNodePool

NOVA_MAX_USER_DATA = 65535 * 3 // 4
"""Nova takes at most 65535 bytes of base64-encoded user data."""


class OpenStackInfrastructure(Infrastructure[OpenStackSpec]):
    """Network and security groups of one cluster on OpenStack, parent of its endpoint and node pools."""

    platform = "openstack"
    type_token = "hybrid-infra:index:OpenStackInfrastructure"
    network: OpenStackNetwork
    """The node network and the security group of each role."""
    image_id: str
    """The image every node boots from."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        section: OpenStackSpec,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(name, cluster, section, opts)
        self.spec = section
        # With credentials, the OpenStack cloud controller manager initialises the nodes.
        self.hints = PlatformHints(
            cloud_provider_external=section.cloud_provider is not None, max_user_data=NOVA_MAX_USER_DATA
        )
        # Before anything of the cluster is registered: an image that does not exist is one line.
        self.image_id = self.look_up_image()
        self.network = OpenStackNetwork(f"{name}-network", cluster, section, pulumi.ResourceOptions(parent=self))
        self.register_outputs(
            {"networkId": self.network.network_id, "subnetId": self.network.subnet_id, "imageId": self.image_id}
        )

    def look_up_image(self) -> str:
        """The ID of the image every node boots from: the most recent named ``openstack.image``; a failed
        look-up is one line naming the key."""
        found = look_up(
            "openstack.image",
            f"the look-up of the image named {self.spec.image!r}",
            lambda: openstack.images.get_image(
                name=self.spec.image, most_recent=True, opts=pulumi.InvokeOptions(parent=self)
            ),
        )
        return found.id

    def create_endpoint(self, name: str) -> OpenStackApiEndpoint:
        return OpenStackApiEndpoint(name, self.cluster, self.spec, self.network, pulumi.ResourceOptions(parent=self))

    def create_node_pool(
        self, name: str, group: NodeGroup, user_data: Sequence[pulumi.Input[str]], endpoint: ApiEndpoint
    ) -> OpenStackNodePool:
        return OpenStackNodePool(
            name, group, user_data, self.spec, self.network, self.image_id, endpoint, pulumi.ResourceOptions(parent=self)
        )

    def create_cloud_provider(
        self, name: str, addons: AddonsSpec, opts: pulumi.ResourceOptions
    ) -> OpenStackCloudProvider | None:
        if self.spec.cloud_provider is None:
            return None
        return OpenStackCloudProvider(
            name,
            self.cluster,
            addons,
            self.spec,
            self.network.subnet_id,
            self.network.external_network_id,
            opts,
            # The provider's own setting (openstack:region), when the section names no region.
            provider_region=pulumi.Config("openstack").get("region"),
        )


INFRASTRUCTURE = OpenStackInfrastructure
