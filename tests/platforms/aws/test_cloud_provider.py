"""The AWS cloud provider: pinned charts, the metadata service reached from the host network only, a
default encrypted gp3 StorageClass; and KubeVirt on nested virtualization, without emulation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_infra.offline.plan import run_plan, write_plan
from hybrid_infra.offline.simulate import Simulation
from hybrid_infra.platforms.aws.cloud_provider import ccm_values
from hybrid_infra.stack import parse_stack_config
from tests.conftest import STACKS, cloud_init_schema
from tests.platforms.aws.conftest import load_aws_config, run

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(scope="module")
def aws_plan(tmp_path_factory) -> Path:
    """The aws stack's plan, as `hybrid-infra plan aws --out` writes it."""
    out = tmp_path_factory.mktemp("plan") / "aws"
    write_plan(run_plan(STACKS, "aws"), out, show_secrets=False)
    return out


def manifest(plan: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((plan / "manifests" / name).read_text())


def releases(result: Simulation) -> dict[str, Any]:
    return {r.inputs["name"]: r for r in result.of_type(HELM_RELEASE)}


def test_the_charts_are_pinned(aws_plan):
    ccm = manifest(aws_plan, "helmrelease-kube-system-aws-cloud-controller-manager.yaml")["helmRelease"]
    assert (ccm["chart"], ccm["repository"], ccm["version"]) == (
        "aws-cloud-controller-manager", "https://kubernetes.github.io/cloud-provider-aws", "0.0.11"
    )
    csi = manifest(aws_plan, "helmrelease-kube-system-aws-ebs-csi-driver.yaml")["helmRelease"]
    assert (csi["chart"], csi["repository"], csi["version"]) == (
        "aws-ebs-csi-driver", "https://kubernetes-sigs.github.io/aws-ebs-csi-driver", "2.64.0"
    )
    assert ccm["namespace"] == csi["namespace"] == "kube-system"
    # The chart's own image is v1.35.0; the release for the cluster's minor at its newest promoted patch.
    assert ccm["values"]["image"] == {"tag": "v1.35.2"}


def test_another_ccm_chart_runs_its_own_image():
    config = load_aws_config()
    config["hybrid-infra:aws"].setdefault("charts", {})["cloudControllerManager"] = {
        "repository": "https://kubernetes.github.io/cloud-provider-aws", "version": "0.0.12"
    }
    values = ccm_values(parse_stack_config(config).sections["aws"])
    assert values == {"hostNetworking": True}


def test_only_host_network_pods_reach_the_instance_metadata(aws_plan):
    # Pods in the pod network are one hop too far for IMDSv2 (hop limit 1), and the CNI's policy denies them
    # the metadata address: the controller manager and the CSI controller run on the host network.
    ccm = manifest(aws_plan, "helmrelease-kube-system-aws-cloud-controller-manager.yaml")["helmRelease"]["values"]
    assert ccm["hostNetworking"] is True
    csi = manifest(aws_plan, "helmrelease-kube-system-aws-ebs-csi-driver.yaml")["helmRelease"]["values"]
    assert csi["node"] == {"metadataSources": "kubernetes"}
    assert (csi["controller"]["region"], csi["controller"]["k8sTagClusterId"]) == ("us-east-1", "aws")
    # The release makes no controller pod: the first one comes from the patch, on the host network.
    assert csi["controller"]["replicaCount"] == 0
    patch = manifest(aws_plan, "deployment-kube-system-ebs-csi-controller.yaml")
    assert patch["spec"] == {"replicas": 2, "template": {"spec": {"hostNetwork": True}}}
    assert patch["metadata"]["name"] == "ebs-csi-controller" and patch["metadata"]["namespace"] == "kube-system"


def test_the_ebs_csi_controller_runs_on_the_control_plane_nodes_whose_role_may_call_ec2(aws_plan):
    controller = manifest(aws_plan, "helmrelease-kube-system-aws-ebs-csi-driver.yaml")["helmRelease"]["values"]["controller"]
    assert controller["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"} in controller["tolerations"]
    # The chart's own tolerations stay.
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in controller["tolerations"]


def test_one_control_plane_node_runs_one_ebs_csi_controller():
    config = load_aws_config()
    config["hybrid-infra:cluster"]["controlPlane"]["count"] = 1
    result = run(config)
    (patch,) = result.of_type("kubernetes:apps/v1:DeploymentPatch")
    assert patch.inputs["spec"]["replicas"] == 1
    classes = result.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert len(classes) == 2 and all(patch.urn in storage.dependencies for storage in classes)


def test_the_default_storage_class_is_encrypted_gp3(aws_plan):
    storage = manifest(aws_plan, "storageclass-cluster-standard.yaml")
    assert storage["provisioner"] == "ebs.csi.aws.com"
    assert storage["parameters"] == {"type": "gp3", "encrypted": "true"}
    # Default, and cloned by copy: its VolumeSnapshotClass retains snapshots (tests/test_snapshots.py).
    assert storage["metadata"]["annotations"] == {
        "storageclass.kubernetes.io/is-default-class": "true",
        "cdi.kubevirt.io/clone-strategy": "copy",
    }
    assert storage["volumeBindingMode"] == "WaitForFirstConsumer"


def test_csi_after_the_controller_manager_and_the_class_after_the_csi(aws_stack):
    by_urn = {r.urn: r for r in aws_stack.resources}
    found = releases(aws_stack)

    def after(resource) -> set[str]:
        return {by_urn[d].name for d in resource.dependencies if d in by_urn}

    assert found["aws-cloud-controller-manager"].name in after(found["aws-ebs-csi-driver"])
    patch = aws_stack.of_type("kubernetes:apps/v1:DeploymentPatch")[0]
    storage = aws_stack.of_type("kubernetes:storage.k8s.io/v1:StorageClass")[0]
    assert found["aws-ebs-csi-driver"].name in after(patch)
    # The class comes once the controller runs, which the patch makes happen.
    assert patch.name in after(storage)


def test_kubevirt_runs_on_kvm_without_emulation(aws_plan):
    kubevirt = manifest(aws_plan, "kubevirt-kubevirt-kubevirt.yaml")
    assert "useEmulation" not in kubevirt["spec"]["configuration"].get("developerConfiguration", {})
    vm = manifest(aws_plan, "virtualmachine-default-erp.yaml")
    assert vm["metadata"]["name"] == "erp"


def test_every_node_user_data_is_written_and_passes_cloud_init_schema(aws_plan):
    written = sorted(path.name for path in (aws_plan / "nodes").iterdir())
    assert written == [f"aws-{name}.user-data" for name in (
        "cp-0", "cp-1", "cp-2", "general-0", "general-1", "general-2", "virt-0", "virt-1"
    )]
    for name in written:
        checked = cloud_init_schema(aws_plan / "nodes" / name)
        assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}"
