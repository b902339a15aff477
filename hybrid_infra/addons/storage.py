"""The cluster's default StorageClass and, with volume snapshots, the default VolumeSnapshotClass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..config.addons import StorageClassSpec, VolumeSnapshotsSpec
from ..objects import child_options

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
DEFAULT_SNAPSHOT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"
"""The annotation KubeVirt (pkg/storage/snapshot/snapshot.go at v1.9.0, getVolumeSnapshotClassName) and CDI
(pkg/controller/common/util.go at v1.66.0, GetVolumeSnapshotClass) pick a class by when several serve a
driver."""
CLONE_STRATEGY_ANNOTATION = "cdi.kubevirt.io/clone-strategy"
"""CDI's clone strategy for a StorageClass (pkg/controller/storageprofile-controller.go at v1.66.0,
reconcileCloneStrategy): ``copy`` is host-assisted cloning. Without it, CDI clones a volume through a
VolumeSnapshot it deletes afterwards (pkg/controller/clone/planner.go, Cleanup) as soon as a
VolumeSnapshotClass serves the driver; with a Retain class every clone would leave a snapshot in the cloud.
``copy`` is what CDI did here before any class existed."""


def volume_snapshot_class(name: str, driver: str, deletion_policy: str, parameters: dict[str, str]) -> dict[str, Any]:
    """The default VolumeSnapshotClass (snapshot.storage.k8s.io/v1) of ``driver``: ``driver``,
    ``deletionPolicy`` and ``parameters`` sit beside ``metadata``, not under a ``spec``
    (client/config/crd/snapshot.storage.k8s.io_volumesnapshotclasses.yaml at external-snapshotter v8.5.0)."""
    document: dict[str, Any] = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": name, "annotations": {DEFAULT_SNAPSHOT_CLASS_ANNOTATION: "true"}},
        "driver": driver,
        "deletionPolicy": deletion_policy,
    }
    if parameters:
        document["parameters"] = dict(parameters)
    return document


class KubernetesObject(pulumi.CustomResource):
    """A custom resource given whole, its fields beside ``metadata`` as they are.

    ``pulumi_kubernetes.apiextensions.CustomResource`` in Python sends ``spec`` and ``metadata`` only, so a
    kind whose fields are not under ``spec`` reaches the API without them (pulumi/pulumi-kubernetes issue
    3549, open, on this very kind); the provider takes any inputs as the object (provider/pkg/provider/
    provider.go, Check: propMapToUnstructured), as the Node.js SDK's CustomResource sends them."""

    def __init__(self, name: str, document: dict[str, Any], opts: pulumi.ResourceOptions):
        super().__init__(f"kubernetes:{document['apiVersion']}:{document['kind']}", name, dict(document), opts)


def snapshot_dependencies(
    opts: pulumi.ResourceOptions,
) -> tuple[pulumi.ResourceOptions, list[pulumi.Resource]]:
    """``opts`` of a cloud-provider add-on without the CustomResourceDefinitions it was given to come after,
    and those CRDs (the snapshot CRDs, ``HybridPlatform``).

    A custom resource waits for its CRD; of a cloud provider, that is its VolumeSnapshotClass alone: its
    controller manager, CSI driver and StorageClass come no later for the CRDs."""
    given = opts.depends_on
    found = [given] if isinstance(given, pulumi.Resource) else list(given) if isinstance(given, list | tuple) else []
    crds: list[pulumi.Resource] = [
        item for item in found if isinstance(item, k8s.apiextensions.v1.CustomResourceDefinition)
    ]
    if not crds:
        return opts, []
    narrowed = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions())
    narrowed.depends_on = [item for item in found if item not in crds]
    return narrowed, crds


class DefaultStorageClass(pulumi.ComponentResource):
    """The default StorageClass of a CSI driver; with ``storageClass.vmDisks`` on, a second class of the driver
    whose volumes outlive their claims (``Retain``), for VM disks; with ``snapshots`` on, the driver's default
    VolumeSnapshotClass."""

    vm_disk_class: k8s.storage.v1.StorageClass | None
    """The VM disks' class; None unless ``storageClass.vmDisks.enabled`` (decided by ``AddonsSpec.for_cluster``)."""

    snapshot_class: pulumi.CustomResource | None
    """The VolumeSnapshotClass, named as the StorageClass; None without volume snapshots."""

    def __init__(
        self,
        name: str,
        spec: StorageClassSpec,
        provisioner: str,
        parameters: dict[str, str],
        opts: pulumi.ResourceOptions,
        snapshots: VolumeSnapshotsSpec | None = None,
        snapshot_parameters: dict[str, str] | None = None,
        snapshot_crds: Sequence[pulumi.Resource] = (),
    ):
        """``snapshots``: the stack's ``addons.volumeSnapshots`` with ``enabled`` decided
        (``AddonsSpec.for_cluster``); ``snapshot_parameters`` go to the driver's CreateSnapshot; the
        VolumeSnapshotClass waits for ``snapshot_crds`` besides what ``opts`` waits for."""
        super().__init__("hybrid-infra:index:DefaultStorageClass", name, None, opts)
        enabled = snapshots is not None and snapshots.enabled is True
        annotations: dict[str, str] = {}
        if snapshots is not None and enabled and snapshots.deletion_policy == "Retain":
            annotations[CLONE_STRATEGY_ANNOTATION] = "copy"

        def storage_class(resource: str, class_name: str, reclaim_policy: str, default: bool) -> k8s.storage.v1.StorageClass:
            marked = {DEFAULT_CLASS_ANNOTATION: "true", **annotations} if default else dict(annotations)
            return k8s.storage.v1.StorageClass(
                resource,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name, annotations=marked or None),
                provisioner=provisioner,
                parameters=parameters or None,
                reclaim_policy=reclaim_policy,
                allow_volume_expansion=True,
                # Volumes are zonal: create them where the pod is scheduled.
                volume_binding_mode="WaitForFirstConsumer",
                opts=child_options(self, opts),
            )

        self.storage_class = storage_class(f"{name}-class", spec.name, spec.reclaim_policy, default=True)
        # VM disks that outlive their VM: a deleted claim leaves the cloud volume, whatever the default does.
        self.vm_disk_class = (
            storage_class(f"{name}-vm-disk-class", spec.vm_disks.name, "Retain", default=False)
            if spec.vm_disk_class is not None
            else None
        )
        self.snapshot_class = None
        if snapshots is not None and enabled:
            document = volume_snapshot_class(spec.name, provisioner, snapshots.deletion_policy, snapshot_parameters or {})
            self.snapshot_class = KubernetesObject(
                f"{name}-snapshot-class", document, child_options(self, opts, *snapshot_crds)
            )
        self.register_outputs({"name": spec.name})
