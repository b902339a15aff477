"""Instance profiles: each role may call what the upstream documents at the pinned versions list, nothing more;
the EBS CSI driver only on what carries the cluster's tag, and from the control-plane role alone."""

from __future__ import annotations

import json
from typing import Any

from hybrid_infra.offline.simulate import Simulation
from tests.platforms.aws.conftest import INSTANCE

# kubernetes/cloud-provider-aws v1.34.0, docs/prerequisites.md, "Control Plane Policy" (Resource "*").
# The project grants it without the volume actions that change something, which v1.34.0 never calls.
CCM_VOLUME_CHANGES = {"ec2:CreateVolume", "ec2:ModifyVolume", "ec2:AttachVolume", "ec2:DeleteVolume", "ec2:DetachVolume"}
CCM_DOCUMENT = {
    "autoscaling": ["DescribeAutoScalingGroups", "DescribeLaunchConfigurations", "DescribeTags"],
    "ec2": [
        "DescribeInstances", "DescribeRegions", "DescribeRouteTables", "DescribeSecurityGroups", "DescribeSubnets",
        "DescribeVolumes", "DescribeAvailabilityZones", "CreateSecurityGroup", "CreateTags", "CreateVolume",
        "ModifyInstanceAttribute", "ModifyVolume", "AttachVolume", "AuthorizeSecurityGroupIngress", "CreateRoute",
        "DeleteRoute", "DeleteSecurityGroup", "DeleteVolume", "DetachVolume", "RevokeSecurityGroupIngress",
        "DescribeVpcs", "DescribeInstanceTopology",
    ],
    "elasticloadbalancing": [
        "AddTags", "AttachLoadBalancerToSubnets", "ApplySecurityGroupsToLoadBalancer", "CreateLoadBalancer",
        "CreateLoadBalancerPolicy", "CreateLoadBalancerListeners", "ConfigureHealthCheck", "DeleteLoadBalancer",
        "DeleteLoadBalancerListeners", "DescribeLoadBalancers", "DescribeLoadBalancerAttributes",
        "DetachLoadBalancerFromSubnets", "DeregisterInstancesFromLoadBalancer", "ModifyLoadBalancerAttributes",
        "RegisterInstancesWithLoadBalancer", "SetLoadBalancerPoliciesForBackendServer", "CreateListener",
        "CreateTargetGroup", "DeleteListener", "DeleteTargetGroup", "DescribeListeners", "DescribeLoadBalancerPolicies",
        "DescribeTargetGroups", "DescribeTargetHealth", "ModifyListener", "ModifyTargetGroup", "RegisterTargets",
        "DeregisterTargets", "SetLoadBalancerPoliciesOfListener",
    ],
    "iam": ["CreateServiceLinkedRole"],
    "kms": ["DescribeKey"],
}
# kubernetes-sigs/aws-ebs-csi-driver v1.64.0, docs/AmazonEBSCSIDriverPolicyV2.json: only the describe
# calls act on "*"; every other statement names volumes, snapshots or instances, most under a tag condition.
EBS_CSI_DESCRIBE = [
    "DescribeAvailabilityZones", "DescribeInstances", "DescribeInstanceTypes", "DescribeSnapshots", "DescribeVolumes",
    "DescribeVolumesModifications", "DescribeVolumeStatus",
]
EBS_CSI_SCOPED = [
    "CreateVolume", "CopyVolumes", "CreateSnapshot", "ModifyVolume", "AttachVolume", "DetachVolume", "DeleteVolume",
    "EnableFastSnapshotRestores", "DeleteSnapshot", "LockSnapshot", "CreateTags", "DeleteTags",
]


def documented(actions: dict[str, list[str]]) -> set[str]:
    return {f"{service}:{action}" for service, names in actions.items() for action in names}


CONTROL_PLANE, WORKER = "aws Kubernetes control-plane nodes", "aws Kubernetes worker nodes"
CLUSTER_TAG = "kubernetes.io/cluster/aws"


def role_policies(result: Simulation) -> dict[str, dict[str, dict[str, Any]]]:
    """Each role's policy documents by the policy's resource name, by the role's description."""
    roles = {r.outputs["name"]: r.inputs["description"] for r in result.of_type("aws:iam/role:Role")}
    found: dict[str, dict[str, dict[str, Any]]] = {role: {} for role in roles.values()}
    for r in result.of_type("aws:iam/rolePolicy:RolePolicy"):
        found[roles[r.inputs["role"]]][r.name] = json.loads(r.inputs["policy"])
    return found


def policies(result: Simulation) -> dict[str, dict[str, Any]]:
    """Each policy document by its resource name."""
    return {name: document for documents in role_policies(result).values() for name, document in documents.items()}


def actions(document: dict[str, Any]) -> list[str]:
    found = []
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        found += [listed] if isinstance(listed, str) else listed
    return found


def test_no_action_is_a_wildcard(aws_stack):
    for role, document in policies(aws_stack).items():
        assert not [action for action in actions(document) if "*" in action], role


def test_the_control_plane_may_do_what_the_cloud_controller_manager_documents(aws_stack):
    document = policies(aws_stack)["aws-aws-iam-control-plane"]
    assert set(actions(document)) == documented(CCM_DOCUMENT) - CCM_VOLUME_CHANGES
    assert [statement["Resource"] for statement in document["Statement"]] == ["*"]


def test_the_worker_role_is_allowed_nothing(aws_stack):
    assert role_policies(aws_stack)[WORKER] == {}
    assert set(role_policies(aws_stack)[CONTROL_PLANE]) == {
        "aws-aws-iam-control-plane",
        "aws-aws-iam-control-plane-ebs-csi",
        "aws-cluster-keys-read",
    }


def test_the_ebs_csi_driver_changes_only_what_carries_the_clusters_tag(aws_stack):
    document = policies(aws_stack)["aws-aws-iam-control-plane-ebs-csi"]
    for statement in document["Statement"]:
        if statement["Resource"] == "*":
            continue
        conditions = {key for operator in statement["Condition"].values() for key in operator}
        assert conditions & {f"aws:RequestTag/{CLUSTER_TAG}", f"ec2:ResourceTag/{CLUSTER_TAG}"}, statement["Sid"]
        tags = [values[key] for values in statement["Condition"].values() for key in values if key.endswith(CLUSTER_TAG)]
        assert tags == ["owned"], statement["Sid"]


def test_the_control_plane_may_do_what_the_ebs_csi_driver_documents(aws_stack):
    document = policies(aws_stack)["aws-aws-iam-control-plane-ebs-csi"]
    assert set(actions(document)) == documented({"ec2": EBS_CSI_DESCRIBE + EBS_CSI_SCOPED})
    for statement in document["Statement"]:
        if statement["Resource"] == "*":
            assert set(statement["Action"]) == documented({"ec2": EBS_CSI_DESCRIBE}), statement["Sid"]
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert all(r.startswith(("arn:aws:ec2:*:*:volume/", "arn:aws:ec2:*:*:snapshot/", "arn:aws:ec2:*:*:instance/")) for r in resources)
    deleting = [s for s in document["Statement"] if "ec2:DeleteVolume" in s["Action"]]
    assert deleting and all("Condition" in s for s in deleting)


def test_each_node_gets_the_profile_of_its_role(aws_stack):
    profiles = {r.outputs["name"]: r.inputs["role"] for r in aws_stack.of_type("aws:iam/instanceProfile:InstanceProfile")}
    roles = {r.outputs["name"]: r.inputs["description"] for r in aws_stack.of_type("aws:iam/role:Role")}
    for instance in aws_stack.of_type(INSTANCE):
        inputs = instance.inputs
        role = inputs["tags"]["hybrid-infra-role"]
        assert roles[profiles[inputs["iamInstanceProfile"]]] == f"aws Kubernetes {role} nodes", inputs["tags"]["Name"]
    trust = json.loads(aws_stack.of_type("aws:iam/role:Role")[0].inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
