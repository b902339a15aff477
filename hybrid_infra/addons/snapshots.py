"""Volume snapshots: the CSI snapshot controller and its CRDs, from the external-snapshotter release files.

KubeVirt's VirtualMachineSnapshot takes a VolumeSnapshot of each of the VM's volumes; Kubernetes does not
ship the snapshot.storage.k8s.io API: its CRDs and the controller that binds VolumeSnapshots to
VolumeSnapshotContents come from kubernetes-csi/external-snapshotter, "independent of any CSI driver",
to be deployed once per cluster by its distribution (README.md at v8.5.0, "Usage"). Each platform's cloud
provider adds the VolumeSnapshotClass of its CSI driver (:class:`.storage.DefaultStorageClass`).

Order (``HybridPlatform``): the CRDs after the CNI and its metadata policy; the controller after the
CRDs (it exits when they are missing: cmd/snapshot-controller/main.go, ``--retry-crd-interval-max``);
the VolumeSnapshotClass after the CRDs and the CSI driver; KubeVirt and CDI after all of them. Neither
the CRDs nor the controller waits for the cloud provider, nor it for them: only its VolumeSnapshotClass
waits for the CRDs (:func:`.storage.snapshot_dependencies`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from ..config.cluster import ClusterSpec
from ..stack import StackSpec
from .manifests import PinnedManifest, install_release
from .placement import off_virtualization_pools, virtualization_pools

CRD_FILES = ("volume_snapshot_classes", "volume_snapshot_contents", "volume_snapshots")
CONTROLLER = "snapshot-controller"
"""The Deployment and its container in setup-snapshot-controller.yaml (v8.5.0), in kube-system."""
CONTROLLER_IMAGE = "registry.k8s.io/sig-storage/snapshot-controller"
MANIFEST_IMAGE_TAG = "v8.4.0"
"""The tag setup-snapshot-controller.yaml names at v8.5.0: upstream points the file at a release only after
publishing it, so the file of each tag names the release before (v8.4.0 at v8.5.0; v8.5.0 from commit
97f3abc8, "deploy: update sidecar image versions", 2026-03-03, in v8.6.0). The add-on runs the image of its
own version instead (:func:`adjust_controller`): v8.5.0 is the controller built on Kubernetes 1.35's
libraries, with the Go update for CVE-2025-68121 (CHANGELOG/CHANGELOG-8.5.md)."""


def controller_image(version: str) -> str:
    return f"{CONTROLLER_IMAGE}:{version}"


def adjust_controller(cluster: ClusterSpec, version: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The controller's Deployment with the image of the release it comes from, and off the virtualization
    pools, which stay for the VMs (as KubeVirt's and CDI's own controllers)."""
    placement = off_virtualization_pools(cluster) if virtualization_pools(cluster) else None

    def adjust(item: dict[str, Any]) -> dict[str, Any]:
        if item["kind"] != "Deployment" or item["metadata"]["name"] != CONTROLLER:
            return item
        item = copy.deepcopy(item)
        pod = item["spec"]["template"]["spec"]
        for container in pod.get("containers", []):
            if str(container.get("image", "")).rpartition(":")[0] == CONTROLLER_IMAGE:
                container["image"] = controller_image(version)
        if placement is not None:
            pod.update(copy.deepcopy(placement))
        return item

    return adjust


def _install(
    parent: pulumi.Resource,
    name: str,
    component: str,
    field: str,
    spec: StackSpec,
    base_dir: Path,
    opts: pulumi.ResourceOptions,
    adjust: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[list[pulumi.CustomResource], dict[str, Any]]:
    """One release file, pinned by version and digest; its objects become children of ``parent``."""
    settings = spec.addons.volume_snapshots
    source, url, key = settings.manifest(field)
    pinned = PinnedManifest(component, settings.version, source, url, key)
    return install_release(parent, name, pinned, base_dir, opts, adjust)


def install_crds(
    parent: pulumi.Resource, name: str, spec: StackSpec, base_dir: Path, opts: pulumi.ResourceOptions
) -> tuple[list[pulumi.CustomResource], list[dict[str, Any]]]:
    """The VolumeSnapshotClass, VolumeSnapshotContent and VolumeSnapshot CRDs (snapshot.storage.k8s.io/v1),
    and the pinned source of each file. Offline, a URL is recorded and not fetched: no CRD object then."""
    crds, records = [], []
    for field in CRD_FILES:
        short = field.replace("_", "")
        created, record = _install(parent, f"{name}-{short}", f"snapshot-crd-{short}", field, spec, base_dir, opts)
        crds += created
        records.append(record)
    return crds, records


def install_controller(
    parent: pulumi.Resource, name: str, spec: StackSpec, base_dir: Path, opts: pulumi.ResourceOptions
) -> tuple[list[pulumi.CustomResource], list[dict[str, Any]]]:
    """The snapshot controller in kube-system: its service account and roles, then its Deployment (its pods
    run as that account); ``opts`` must come after the CRDs."""
    rbac, rbac_record = _install(parent, f"{name}-rbac", "snapshot-controller-rbac", "rbac", spec, base_dir, opts)
    after_rbac = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(rbac)))
    adjust = adjust_controller(spec.cluster, spec.addons.volume_snapshots.version)
    deployment, record = _install(
        parent, f"{name}-deployment", "snapshot-controller", "controller", spec, base_dir, after_rbac, adjust
    )
    return [*rbac, *deployment], [rbac_record, record]
