"""AWS cloud integration: the cloud controller manager, the EBS CSI driver, the default StorageClass and
VolumeSnapshotClass."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ...addons.helm import release
from ...addons.storage import DefaultStorageClass, snapshot_dependencies
from ...config.addons import AddonsSpec
from ...config.cluster import ClusterSpec
from ...objects import child_options
from .config import CCM_CHART_VERSION, CCM_IMAGE_TAG, AwsSpec

EBS_CSI_PROVISIONER = "ebs.csi.aws.com"
"""Also the driver of its VolumeSnapshotClass: v1.64.0 snapshots volumes (pkg/driver/controller.go:
CREATE_DELETE_SNAPSHOT), every class parameter optional (docs/snapshot.md); the control-plane role may
create, tag and delete the snapshots of the cluster's volumes and restore volumes from them (iam.py,
ebs_csi_policy)."""
STORAGE_PARAMETERS = {"type": "gp3", "encrypted": "true"}
"""gp3 volumes encrypted with the account's default EBS key (docs/parameters.md of the driver, v1.64.0)."""
EBS_CSI_CONTROLLER = "ebs-csi-controller"
"""The chart's controller Deployment (charts/aws-ebs-csi-driver/templates/controller.yaml, 2.64.0)."""
EBS_CSI_CONTROLLER_REPLICAS = 2
"""The chart's ``controller.replicaCount`` (values.yaml, 2.64.0)."""
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
"""The label and the taint kubeadm gives control-plane nodes."""


def ccm_values(spec: AwsSpec) -> dict[str, Any]:
    """Chart aws-cloud-controller-manager 0.0.11 runs on the control-plane nodes (values.yaml nodeSelector),
    in the pod network unless ``hostNetworking`` (templates/daemonset.yaml). On the host network it
    reaches the instance metadata (region, credentials of the instance profile) despite the hop limit of
    1, and it is no endpoint of the CNI's policy that denies pods the metadata address. On the pinned
    chart, the image is the release for the cluster's minor (``image.tag``); another chart keeps its own."""
    values: dict[str, Any] = {"hostNetworking": True}
    if spec.charts.cloud_controller_manager.version == CCM_CHART_VERSION:
        values["image"] = {"tag": CCM_IMAGE_TAG}
    return values


def ebs_csi_values(cluster: ClusterSpec, region: str, snapshots: bool = False) -> dict[str, Any]:
    """Chart aws-ebs-csi-driver 2.64.0. The node plugin runs in the pod network, where the metadata service
    is out of reach: it takes the instance ID, type, region and zone from its Node (``metadataSources:
    kubernetes``; providerID and the labels the cloud controller manager sets; docs/install.md, "Kubernetes
    Metadata").

    The controller calls the EC2 API with the control-plane nodes' instance profile, whose credentials
    come from the instance metadata: it runs on those nodes, and on their host network. The chart has no
    value for the host network, and the controller's CSI Probe makes an EC2 dry-run call
    (pkg/driver/identity.go, v1.64.0), so a pod in the pod network fails its liveness probe until it is
    killed. The release therefore creates the Deployment with no replica (``replicaCount: 0``, ready at
    once), and :func:`ebs_csi_controller_patch` gives it the host network and its replicas together:
    the first controller pod already runs on the host network. A later chart upgrade leaves both alone
    (Helm's three-way merge changes only what its manifests change). ``k8sTagClusterId`` tags what the
    driver creates with ``kubernetes.io/cluster/<name>``, which the role's policy requires.

    With ``snapshots``, the controller runs the csi-snapshotter sidecar: the chart renders it only when the
    snapshot API is served at install time, unless ``sidecars.snapshotter.forceEnable`` (templates/controller.yaml
    and values.yaml, 2.64.0); forced, it does not hang on the order of discovery, and a cluster whose release
    came before the CRDs gets it with the next upgrade of the release."""
    values: dict[str, Any] = {
        "controller": {
            "region": region,
            "k8sTagClusterId": cluster.name,
            "replicaCount": 0,
            "nodeSelector": {CONTROL_PLANE_LABEL: ""},
            # The chart's own tolerations (values.yaml), and the control-plane taint.
            "tolerations": [
                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                {"effect": "NoExecute", "operator": "Exists", "tolerationSeconds": 300},
                {"key": CONTROL_PLANE_LABEL, "operator": "Exists", "effect": "NoSchedule"},
            ],
        },
        "node": {"metadataSources": "kubernetes"},
    }
    if snapshots:
        values["sidecars"] = {"snapshotter": {"forceEnable": True}}
    return values


def ebs_csi_controller_replicas(cluster: ClusterSpec) -> int:
    """The chart's replica count, but one per control-plane node at most: on the host network two
    replicas would want the same ports of one node."""
    return min(EBS_CSI_CONTROLLER_REPLICAS, cluster.control_plane.count)


class AwsCloudProvider(pulumi.ComponentResource):
    """aws-cloud-controller-manager and the EBS CSI driver from their charts, and a default StorageClass."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        addons: AddonsSpec,
        spec: AwsSpec,
        region: str,
        opts: pulumi.ResourceOptions,
    ):
        # Only the VolumeSnapshotClass waits for the snapshot CRDs.
        opts, snapshot_crds = snapshot_dependencies(opts)
        super().__init__("hybrid-infra:index:AwsCloudProvider", name, None, opts)
        self.controller_manager = release(
            f"{name}-ccm",
            "aws-cloud-controller-manager",
            "aws-cloud-controller-manager",
            spec.charts.cloud_controller_manager,
            "kube-system",
            ccm_values(spec),
            child_options(self, opts),
        )
        # The node plugin reads what the controller manager writes on the Nodes: it comes after.
        self.csi = release(
            f"{name}-ebs-csi",
            "aws-ebs-csi-driver",
            "aws-ebs-csi-driver",
            spec.charts.ebs_csi_driver,
            "kube-system",
            ebs_csi_values(cluster, region, snapshots=addons.volume_snapshots.enabled is True),
            child_options(self, opts, self.controller_manager),
        )
        # On the host network the controller reaches the instance metadata for the instance profile's
        # credentials (docs/install.md, "IAM Instance Profile": host networking, or a hop limit of at
        # least 2, which would open the metadata to every pod). The release made it with no replica.
        self.csi_controller = k8s.apps.v1.DeploymentPatch(
            f"{name}-ebs-csi-controller-host-network",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name=EBS_CSI_CONTROLLER,
                namespace="kube-system",
                annotations={"pulumi.com/patchForce": "true"},
            ),
            spec=k8s.apps.v1.DeploymentSpecPatchArgs(
                replicas=ebs_csi_controller_replicas(cluster),
                template=k8s.core.v1.PodTemplateSpecPatchArgs(spec=k8s.core.v1.PodSpecPatchArgs(host_network=True)),
            ),
            opts=child_options(self, opts, self.csi),
        )
        self.storage_class = DefaultStorageClass(
            f"{name}-storage",
            addons.storage_class,
            EBS_CSI_PROVISIONER,
            dict(STORAGE_PARAMETERS),
            child_options(self, opts, self.csi_controller),
            snapshots=addons.volume_snapshots,
            snapshot_crds=snapshot_crds,
        )
        self.register_outputs({})
