"""IAM: one role and instance profile per node role, each allowed what the software on those nodes calls.

The control-plane nodes run the AWS cloud controller manager and the EBS CSI driver's controller;
the workers call no AWS API, and their role is allowed nothing. The policies are the upstream
documents at the pinned versions, narrowed, nothing added:

- the cloud controller manager: kubernetes/cloud-provider-aws v1.34.0 (the image of chart 0.0.10),
  docs/prerequisites.md, "Control Plane Policy", without its volume actions: the external cloud
  controller manager calls none of them (in v1.34.0 only pkg/providers/v1/aws_fakes.go names them),
  and they would allow any volume of the account to be attached, detached or deleted. Its "Node
  Policy" is not granted: with an external cloud provider the kubelet calls no AWS API, and no ECR
  credential provider is configured.
- the EBS CSI driver: kubernetes-sigs/aws-ebs-csi-driver v1.64.0 (chart 2.64.0),
  docs/AmazonEBSCSIDriverPolicyV2.json, the example policy of docs/install.md, with every statement
  that changes something also conditioned on the cluster's own tag, ``kubernetes.io/cluster/<name>``
  (the driver puts it on the volumes and snapshots it creates when ``k8sTagClusterId`` is set:
  pkg/driver/controller.go, ResourceLifecycleTagPrefix; the instances carry it from the node pool),
  so that it touches no other cluster's volumes or instances; and without the statements for
  volumes of the in-tree plugin (tag ``kubernetes.io/created-for/pvc/name``), which a cluster made
  by this project never had.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from ...config.cluster import ClusterSpec
from ...topology import ROLES, Role
from .network import cluster_tag

CCM_CONTROL_PLANE_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeTags",
    "ec2:DescribeInstances",
    "ec2:DescribeRegions",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
    "ec2:DescribeAvailabilityZones",
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:ModifyInstanceAttribute",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateRoute",
    "ec2:DeleteRoute",
    "ec2:DeleteSecurityGroup",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:DescribeVpcs",
    "ec2:DescribeInstanceTopology",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:AttachLoadBalancerToSubnets",
    "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateLoadBalancerPolicy",
    "elasticloadbalancing:CreateLoadBalancerListeners",
    "elasticloadbalancing:ConfigureHealthCheck",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DeleteLoadBalancerListeners",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DetachLoadBalancerFromSubnets",
    "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
    "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerPolicies",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
    "iam:CreateServiceLinkedRole",
    "kms:DescribeKey",
)
"""The document lists elasticloadbalancing:AddTags twice; it is named once here."""

MANAGED = "ebs.csi.aws.com/cluster"
"""The tag the EBS CSI driver puts on what it creates, and the policy's conditions require."""
OWNED = "owned"


def ccm_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(CCM_CONTROL_PLANE_ACTIONS), "Resource": "*"}],
    }


def ebs_csi_policy(partition: str, cluster_tag: str) -> dict[str, Any]:
    """The driver's policy, its ARNs in the provider's partition (arn:aws, arn:aws-cn, arn:aws-us-gov),
    every statement that changes something limited to what carries ``cluster_tag``."""

    def arn(kind: str) -> str:
        return f"arn:{partition}:ec2:*:*:{kind}"

    volumes, snapshots, instances = arn("volume/*"), arn("snapshot/*"), arn("instance/*")
    requested = {"StringEquals": {f"aws:RequestTag/{MANAGED}": "true", f"aws:RequestTag/{cluster_tag}": OWNED}}
    managed = {"StringEquals": {f"ec2:ResourceTag/{MANAGED}": "true", f"ec2:ResourceTag/{cluster_tag}": OWNED}}
    ours = {"StringEquals": {f"ec2:ResourceTag/{cluster_tag}": OWNED}}

    def allow(sid: str, actions: list[str], resource: str | list[str], condition: dict[str, Any] | None = None) -> dict[str, Any]:
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}
        if condition is not None:
            statement["Condition"] = condition
        return statement

    return {
        "Version": "2012-10-17",
        "Statement": [
            allow(
                "ReadOnlyDescribeOperations",
                [
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeSnapshots",
                    "ec2:DescribeVolumes",
                    "ec2:DescribeVolumesModifications",
                    "ec2:DescribeVolumeStatus",
                ],
                "*",
            ),
            allow("CreateAndCopyVolumesWithManagedTag", ["ec2:CreateVolume", "ec2:CopyVolumes"], volumes, requested),
            allow("CopyManagedVolumes", ["ec2:CopyVolumes"], arn("volume/vol-*"), managed),
            allow("CreateSnapshotsWithManagedTag", ["ec2:CreateSnapshot"], snapshots, requested),
            allow("CreateSnapshotsFromManagedVolumes", ["ec2:CreateSnapshot"], volumes, managed),
            allow(
                "ManageManagedVolumes",
                ["ec2:ModifyVolume", "ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume"],
                volumes,
                managed,
            ),
            allow(
                "CreateVolumesFromAndEnableFSROnManagedSnapshots",
                ["ec2:CreateVolume", "ec2:EnableFastSnapshotRestores"],
                snapshots,
                managed,
            ),
            allow("AttachDetachVolumesToTheClustersInstances", ["ec2:AttachVolume", "ec2:DetachVolume"], instances, ours),
            allow("DeleteAndLockManagedSnapshots", ["ec2:DeleteSnapshot", "ec2:LockSnapshot"], snapshots, managed),
            allow(
                "TagResourcesOnCreation",
                ["ec2:CreateTags"],
                [volumes, snapshots],
                {
                    "StringEquals": {
                        "ec2:CreateAction": ["CreateVolume", "CreateSnapshot", "CopyVolumes"],
                        f"aws:RequestTag/{cluster_tag}": OWNED,
                    }
                },
            ),
            allow(
                "ModifyTagsOnManagedVolumes",
                ["ec2:CreateTags", "ec2:DeleteTags"],
                volumes,
                {
                    **managed,
                    "Null": {"aws:TagKeys": "false"},
                    "ForAllValues:StringNotEquals": {
                        "aws:TagKeys": [MANAGED, "ebs.csi.aws.com/cluster-name", cluster_tag]
                    },
                },
            ),
        ],
    }


ASSUMED_BY_INSTANCES = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


class AwsNodeRoles(pulumi.ComponentResource):
    """A role and an instance profile for each node role."""

    instance_profiles: dict[Role, pulumi.Output[str]]
    """Name of each role's instance profile."""
    roles: dict[Role, aws.iam.Role]
    """Each node role's IAM role."""

    def __init__(self, name: str, cluster: ClusterSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-infra:index:AwsNodeRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        tag = cluster_tag(cluster.name)
        # Worker nodes call no AWS API: their role is allowed nothing.
        policies: dict[Role, dict[str, pulumi.Input[str]]] = {
            "control-plane": {
                "": json.dumps(ccm_policy()),
                "-ebs-csi": partition.apply(lambda name: json.dumps(ebs_csi_policy(name, tag))),
            },
            "worker": {},
        }
        self.instance_profiles = {}
        self.roles = {}
        for role in ROLES:
            # IAM names are account-wide: Pulumi names them after the resource, with a random suffix.
            iam_role = aws.iam.Role(
                f"{name}-{role}",
                description=f"{cluster.name} Kubernetes {role} nodes",
                assume_role_policy=json.dumps(ASSUMED_BY_INSTANCES),
                tags={"hybrid-infra-cluster": cluster.name},
                opts=child,
            )
            for suffix, policy in policies[role].items():
                aws.iam.RolePolicy(
                    f"{name}-{role}{suffix}", role=iam_role.name, policy=policy, opts=pulumi.ResourceOptions(parent=iam_role)
                )
            profile = aws.iam.InstanceProfile(
                f"{name}-{role}", role=iam_role.name, tags={"hybrid-infra-cluster": cluster.name}, opts=child
            )
            self.instance_profiles[role] = profile.name
            self.roles[role] = iam_role
        self.register_outputs({"instanceProfiles": self.instance_profiles})
