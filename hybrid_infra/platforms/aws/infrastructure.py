"""AwsInfrastructure: the network, IAM roles and image at once; the endpoint, node pools and cloud provider on request."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from ...config.addons import AddonsSpec
from ...config.cluster import ClusterSpec
from ...config.errors import ConfigError
from ...topology import NodeGroup, PlatformHints
from ..contract import ApiEndpoint, Infrastructure, look_up
from .cloud_provider import AwsCloudProvider
from .config import AwsSpec
from .endpoint import AwsApiEndpoint
from .iam import AwsNodeRoles
from .keys import AwsKeyStore, fetch_program, secret_name
from .network import AwsNetwork
from .nodes import EC2_MAX_USER_DATA, AwsNodePool

MAX_CLOUD_CONFIG = EC2_MAX_USER_DATA * 7 // 4
"""The largest cloud-config the bootstrap may render. Nodes get it gzip-compressed, to 0.47 of its size
with the default ECDSA keys and 0.55 with RSA-2048 keys (the aws stack's first control-plane node: 16.1
and 25.1 kB); the node pool checks the compressed size against EC2's limit itself."""
PROVIDER_ID = "aws:///{{ v1.availability_zone }}/{{ v1.instance_id }}"
"""The provider ID the AWS cloud controller manager looks a node up by when the node's name is neither the
instance's private DNS name nor its ID (kubernetes/cloud-provider-aws v1.34.0: pkg/providers/v1/
instances_v2.go getProviderID, instances.go MapToAWSInstanceID; docs/prerequisites.md "Node name
conventions"), from cloud-init's instance data on the node."""


class AwsInfrastructure(Infrastructure[AwsSpec]):
    """Network, security groups, IAM roles and the image of one cluster on AWS, parent of its endpoint and node pools."""

    platform = "aws"
    type_token = "hybrid-infra:index:AwsInfrastructure"
    network: AwsNetwork
    """The VPC and subnets, and the security group of each role."""
    roles: AwsNodeRoles
    """The instance profile of each role."""
    image_id: str
    """The image every node boots."""
    keys: AwsKeyStore
    """The control-plane key files' secret, once the cluster has stored them."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        section: AwsSpec,
        opts: pulumi.ResourceOptions | None = None,
    ):
        # The provider's own setting: it names the region for the look-ups and the EBS CSI controller.
        region = pulumi.Config("aws").get("region")
        if not region:
            raise ConfigError(
                ["aws:region: required key is missing; set the region of the stack's AWS provider "
                 "with: pulumi config set aws:region <region>"]
            )
        super().__init__(name, cluster, section, opts)
        self.spec = section
        self.region = region
        # The AWS cloud controller manager initialises the nodes, which it finds by their provider ID.
        # The control-plane keys wait in Secrets Manager: user data is readable with the instance.
        self.hints = PlatformHints(
            cloud_provider_external=True,
            max_user_data=MAX_CLOUD_CONFIG,
            provider_id=PROVIDER_ID,
            key_fetch=fetch_program(secret_name(cluster), region),
        )
        # Before anything of the cluster is registered: an image that does not exist is one line.
        self.image_id = self.look_up_image()
        child = pulumi.ResourceOptions(parent=self)
        self.network = AwsNetwork(f"{name}-network", cluster, section, region, child)
        self.roles = AwsNodeRoles(f"{name}-iam", cluster, child)
        self.register_outputs(
            {"vpcId": self.network.vpc_id, "zones": self.network.zones, "imageId": self.image_id}
        )

    def look_up_image(self) -> str:
        """The ID of the image every node boots: the most recent of ``aws.image``; a failed look-up is one
        line naming ``aws.image.namePattern``."""
        image = self.spec.image
        found = look_up(
            "aws.image.namePattern",
            f"the look-up of images named {image.name_pattern!r} of owner {image.owner}",
            lambda: aws.ec2.get_ami(
                most_recent=True,
                owners=[image.owner],
                filters=[
                    aws.ec2.GetAmiFilterArgs(name="name", values=[image.name_pattern]),
                    aws.ec2.GetAmiFilterArgs(name="state", values=["available"]),
                ],
                region=self.region,
                opts=pulumi.InvokeOptions(parent=self),
            ),
        )
        return found.id

    def create_endpoint(self, name: str) -> AwsApiEndpoint:
        return AwsApiEndpoint(name, self.cluster, self.network, pulumi.ResourceOptions(parent=self))

    def store_control_plane_keys(self, name: str, files: pulumi.Output[dict[str, str]]) -> pulumi.Output[str]:
        control_plane = self.roles.roles["control-plane"]
        self.keys = AwsKeyStore(name, self.cluster, self.region, control_plane, files, pulumi.ResourceOptions(parent=self))
        return self.keys.stored

    def create_node_pool(
        self, name: str, group: NodeGroup, user_data: Sequence[pulumi.Input[str]], endpoint: ApiEndpoint
    ) -> AwsNodePool:
        return AwsNodePool(
            name,
            group,
            user_data,
            self.spec,
            self.network,
            self.image_id,
            self.roles.instance_profiles,
            pulumi.ResourceOptions(parent=self),
        )

    def create_cloud_provider(self, name: str, addons: AddonsSpec, opts: pulumi.ResourceOptions) -> AwsCloudProvider:
        return AwsCloudProvider(name, self.cluster, addons, self.spec, self.region, opts)


INFRASTRUCTURE = AwsInfrastructure
