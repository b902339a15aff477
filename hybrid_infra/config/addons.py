"""The ``addons`` section: pinned versions and mirrors of what runs on every cluster, whatever the platform."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from .errors import problem, raise_problems
from .fields import Cidr, DnsLabel, HttpUrl, NonEmpty, Sha256, Spec
from .versions import Pin, kept_pins

CILIUM_VERSION = "1.20.2"
CALICO_VERSION = "v3.32.1"
KUBEVIRT_VERSION = "v1.9.0"
CDI_VERSION = "v1.66.0"
MULTUS_VERSION = "v4.3.0"
SYSTEM_UPGRADE_CONTROLLER_VERSION = "v0.20.1"
CALICO_CRDS_URL = "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/operator-crds.yaml"
"""Calico's CRDs and the operator's, which the tigera-operator chart no longer carries from v3.32
(projectcalico/calico v3.32.1, charts/tigera-operator/README.md)."""
CALICO_CRDS_SHA256 = "192f8b2d934ef24b62e86b7e1a6e1762d1c8af26a916f78057bc13fa5ed60f71"
"""sha256 of manifests/operator-crds.yaml at the tag v3.32.1."""
EXTERNAL_SNAPSHOTTER_VERSION = "v8.5.0"
"""The CSI external-snapshotter release built for Kubernetes 1.35 (go.mod at the tag: k8s.io/api v0.35.0;
v8.6.0 is built on v0.36.1). Its snapshot controller and CRDs are independent of any CSI driver (README.md
at the tag, "Usage"); its compatibility table states Kubernetes 1.20 as the minimum and no maximum."""
EXTERNAL_SNAPSHOTTER_URL = "https://raw.githubusercontent.com/kubernetes-csi/external-snapshotter/{version}/{path}"
SNAPSHOT_FILES = {
    "volume_snapshot_classes": (
        "client/config/crd/snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
        "75e6565aac2c0f2949ed13ea884bbaa388cb7be576b558b709cf1168e011828d",
    ),
    "volume_snapshot_contents": (
        "client/config/crd/snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
        "895a3c1e73b60f06a0deb566dd123d01bdf1b2efc5d5ff5231ff8bbcf42dafc7",
    ),
    "volume_snapshots": (
        "client/config/crd/snapshot.storage.k8s.io_volumesnapshots.yaml",
        "b032116e987fb1d7d93cec7d942833adeb9d95c9bdc7e00c10b280c2fe4a6c33",
    ),
    "rbac": (
        "deploy/kubernetes/snapshot-controller/rbac-snapshot-controller.yaml",
        "99c4ac480b6c9563be0d85599e29cc7b68b25a82d250b0e789726727551e8d38",
    ),
    "controller": (
        "deploy/kubernetes/snapshot-controller/setup-snapshot-controller.yaml",
        "bab025e1fed9199c5d827f64febb572dd8b746928e48d656312a215bede74d92",
    ),
}
"""The external-snapshotter files the ``volumeSnapshots`` add-on applies, by their field under
``addons.volumeSnapshots.manifests``: the path in the repository and the sha256 of the file at the tag
v8.5.0, computed here from the git objects of kubernetes-csi/external-snapshotter at that tag (``git show
v8.5.0:<path> | sha256sum``; raw.githubusercontent.com serves exactly those bytes). Only the three
snapshot.storage.k8s.io CRDs of client/config/crd: the groupsnapshot.storage.k8s.io ones serve volume
group snapshots, which the controller leaves off unless a flag enables them (README.md at the tag)."""

ADDON_PINS = {
    "cilium": Pin(
        "Cilium",
        CILIUM_VERSION,
        ("1.33", "1.36"),
        "cilium/cilium v1.20.2, Documentation/network/kubernetes/requirements.rst",
    ),
    "calico": Pin(
        "Calico",
        CALICO_VERSION,
        ("1.34", "1.36"),
        "tigera/docs f2a2762, calico_versioned_docs/version-3.32/_includes/partials/_system-requirements.mdx",
    ),
    "kubevirt": Pin(
        "KubeVirt", KUBEVIRT_VERSION, ("1.34", "1.36"), "kubevirt/sig-release 9157c79, releases/k8s-support-matrix.md"
    ),
    "cdi": Pin(
        "CDI",
        CDI_VERSION,
        ("1.34", "1.36"),
        "kubevirt/containerized-data-importer v1.66.0, cluster-up/cluster/k8s-1.34 to k8s-1.36 (the clusters its CI tests)",
    ),
    "multus": Pin(
        "Multus", MULTUS_VERSION, None, "k8snetworkplumbingwg/multus-cni v4.3.0 states no range (go.mod: k8s.io/api v0.35.2)"
    ),
    "systemUpgrade": Pin(
        "system-upgrade-controller",
        SYSTEM_UPGRADE_CONTROLLER_VERSION,
        None,
        "rancher/system-upgrade-controller v0.20.1 states no range (go.mod: k8s.io/api v0.36.0)",
    ),
    "volumeSnapshots": Pin(
        "CSI snapshot controller and CRDs (external-snapshotter)",
        EXTERNAL_SNAPSHOTTER_VERSION,
        None,
        "kubernetes-csi/external-snapshotter v8.5.0, README.md (Compatibility: Kubernetes 1.20 and later, no maximum; "
        "go.mod: k8s.io/api v0.35.0)",
    ),
}
"""The add-ons' default pins, by their key under ``addons``."""


class ChartSpec(Spec):
    """A Helm chart at a pinned version; point ``repository`` at a mirror for air-gapped sites."""

    repository: HttpUrl
    version: NonEmpty


class ChartsSpec(Spec):
    """The CNI charts; each platform section pins its own cloud-provider charts."""

    cilium: ChartSpec = ChartSpec(repository="https://helm.cilium.io/", version=CILIUM_VERSION)
    calico: ChartSpec = ChartSpec(repository="https://docs.tigera.io/calico/charts", version=CALICO_VERSION)


class VmDiskClassSpec(Spec):
    """A second StorageClass of the same driver and parameters, for the disks of VMs that keep their disks:
    its reclaim policy is ``Retain``, so a deleted PersistentVolumeClaim leaves its volume in the cloud."""

    enabled: bool | None = Field(None, description="default: on where a pool runs virtualization")
    name: DnsLabel = "vm-disks"


class StorageClassSpec(Spec):
    """The default StorageClass the platform's CSI driver backs; its parameters belong to the platform section."""

    name: DnsLabel = "standard"
    reclaim_policy: Literal["Delete", "Retain"] = "Delete"
    read_write_many: bool = Field(
        False, description="volumes can attach to two nodes at once, which live migration needs"
    )
    vm_disks: VmDiskClassSpec = Field(
        VmDiskClassSpec(),
        description="the class of VM disks that name none, unless the VM sets deleteDisks (those take the default class)",
    )

    @model_validator(mode="after")
    def _distinct_names(self) -> StorageClassSpec:
        if self.vm_disks.name == self.name:
            raise problem(
                f"{self.name!r} is not allowed; the VM disks' class needs a name of its own beside the default class's",
                key="vmDisks.name",
            )
        return self

    @property
    def vm_disk_class(self) -> str | None:
        """The class VM disks use unless they name one or are deleted with their VM; None: the default class.
        Decided by :meth:`AddonsSpec.for_cluster`."""
        return self.vm_disks.name if self.vm_disks.enabled else None


class ManifestSource(Spec):
    """Where an operator's release manifest comes from: the release URL (default), a mirror or a file."""

    url: HttpUrl | None = Field(None, description="a mirror of the release manifest")
    file: NonEmpty | None = Field(None, description="a local copy, relative to the project directory")
    sha256: Sha256 | None = Field(None, description="digest the manifest must have; checked before use")

    @model_validator(mode="after")
    def _one_source(self) -> ManifestSource:
        if self.url and self.file:
            raise problem(f"{self.file!r} is not allowed together with url; give a url or a file", key="file")
        return self


class KubeVirtSpec(Spec):
    version: NonEmpty = KUBEVIRT_VERSION
    operator_manifest: ManifestSource = ManifestSource()
    use_emulation: bool = Field(
        False, description="run VMs without /dev/kvm by software emulation: slow, for tests and demos only"
    )
    feature_gates: list[NonEmpty] = []
    image_registry: NonEmpty | None = Field(None, description="registry holding the KubeVirt images (a mirror)")
    workload_update_methods: list[Literal["LiveMigrate", "Evict"]] | None = Field(
        None, description="default: LiveMigrate when the storage class is ReadWriteMany, else none"
    )


class CdiSpec(Spec):
    version: NonEmpty = CDI_VERSION
    operator_manifest: ManifestSource = ManifestSource()
    feature_gates: list[NonEmpty] = ["HonorWaitForFirstConsumer"]
    upload_proxy: bool = Field(False, description="expose the upload proxy (virtctl image-upload) by a load balancer")
    upload_proxy_allowed_cidrs: list[Cidr] = Field(
        default=[], description="client networks the upload proxy's load balancer admits (required with uploadProxy)"
    )
    upload_proxy_url: HttpUrl | None = Field(
        None, description="the URL clients reach the upload proxy at (a DNS name for its load balancer): CDI's uploadProxyURLOverride"
    )

    @model_validator(mode="after")
    def _limited_upload_proxy(self) -> CdiSpec:
        # The proxy takes any disk image from anyone who holds an upload token: not from the whole internet.
        if self.upload_proxy and not self.upload_proxy_allowed_cidrs:
            raise problem(
                "missing; with uploadProxy: true list the client networks its load balancer admits, e.g. [203.0.113.0/24]",
                key="uploadProxyAllowedCidrs",
            )
        return self


class MultusSpec(Spec):
    enabled: bool = False
    version: NonEmpty = MULTUS_VERSION
    manifest: ManifestSource = ManifestSource()


class SystemUpgradeSpec(Spec):
    """The system-upgrade-controller that applies version changes to running nodes."""

    version: NonEmpty = SYSTEM_UPGRADE_CONTROLLER_VERSION
    manifest: ManifestSource = ManifestSource()


class SnapshotManifestsSpec(Spec):
    """The external-snapshotter release files, each from its URL at the release (default), a mirror or a file."""

    volume_snapshot_classes: ManifestSource = Field(ManifestSource(), description="the VolumeSnapshotClass CRD")
    volume_snapshot_contents: ManifestSource = Field(ManifestSource(), description="the VolumeSnapshotContent CRD")
    volume_snapshots: ManifestSource = Field(ManifestSource(), description="the VolumeSnapshot CRD")
    rbac: ManifestSource = Field(ManifestSource(), description="the snapshot controller's service account and roles")
    controller: ManifestSource = Field(ManifestSource(), description="the snapshot controller's Deployment")


class VolumeSnapshotsSpec(Spec):
    """Volume snapshots: the CSI snapshot controller and its CRDs, and a default VolumeSnapshotClass for the
    platform's CSI driver, which KubeVirt's VirtualMachineSnapshot needs."""

    enabled: bool | None = Field(None, description="default: on when a pool has virtualization: true")
    version: NonEmpty = Field(EXTERNAL_SNAPSHOTTER_VERSION, description="the external-snapshotter release")
    manifests: SnapshotManifestsSpec = SnapshotManifestsSpec()
    deletion_policy: Literal["Retain", "Delete"] = Field(
        "Retain",
        description="what deleting a VolumeSnapshot does to the snapshot in the cloud: Retain keeps it (and its "
        "VolumeSnapshotContent) until an operator deletes it",
    )

    @model_validator(mode="after")
    def _mirrors_pinned(self) -> VolumeSnapshotsSpec:
        missing = [
            problem("missing; a manifest from a custom url must be pinned by its sha256", key=f"manifests.{_alias(field)}.sha256")
            for field in SNAPSHOT_FILES
            if getattr(self.manifests, field).url is not None and getattr(self.manifests, field).sha256 is None
        ]
        raise_problems(missing)
        return self

    def manifest(self, field: str) -> tuple[ManifestSource, str, str]:
        """One release file: its source (with the digest computed here when it is the pinned release's own),
        its release URL and the key that configures it."""
        path, digest = SNAPSHOT_FILES[field]
        source = getattr(self.manifests, field)
        if source == ManifestSource() and self.version == EXTERNAL_SNAPSHOTTER_VERSION:
            source = ManifestSource(sha256=digest)
        url = EXTERNAL_SNAPSHOTTER_URL.format(version=self.version, path=path)
        return source, url, f"addons.volumeSnapshots.manifests.{_alias(field)}"


def _alias(field: str) -> str:
    return SnapshotManifestsSpec.model_fields[field].alias or field


class AddonsSpec(Spec):
    stack_key: ClassVar[str] = "addons"

    charts: ChartsSpec = ChartsSpec()
    calico_crds: ManifestSource = Field(
        ManifestSource(), description="Calico's CRDs, applied before its chart; the release's operator-crds.yaml"
    )
    storage_class: StorageClassSpec = StorageClassSpec()
    kubevirt: KubeVirtSpec = KubeVirtSpec()
    cdi: CdiSpec = CdiSpec()
    multus: MultusSpec = MultusSpec()
    system_upgrade: SystemUpgradeSpec = SystemUpgradeSpec()
    volume_snapshots: VolumeSnapshotsSpec = VolumeSnapshotsSpec()

    @model_validator(mode="after")
    def _calico_crds_pinned(self) -> AddonsSpec:
        if self.calico_crds.sha256 is None and self.calico_crds.url is not None:
            raise problem("missing; a manifest from a custom url must be pinned by its sha256", key="calicoCrds.sha256")
        return self

    def pins(self, cni: str) -> list[Pin]:
        """The default pins of the add-ons this stack runs and keeps."""
        chosen = {
            "cilium": self.charts.cilium.version if cni == "cilium" else None,
            "calico": self.charts.calico.version if cni == "calico" else None,
            "kubevirt": self.kubevirt.version,
            "cdi": self.cdi.version,
            "multus": self.multus.version if self.multus.enabled else None,
            "systemUpgrade": self.system_upgrade.version,
            # Its default hangs on the pools, which this section does not know: kept unless turned off.
            "volumeSnapshots": self.volume_snapshots.version if self.volume_snapshots.enabled is not False else None,
        }
        return kept_pins(ADDON_PINS, chosen)

    def for_cluster(self, virtualization: bool) -> AddonsSpec:
        """This section with ``volumeSnapshots.enabled`` and ``storageClass.vmDisks.enabled`` decided: as the
        stack sets them, else on where KubeVirt runs."""
        update: dict[str, Any] = {}
        snapshots = self.volume_snapshots
        if snapshots.enabled is None:
            update["volume_snapshots"] = snapshots.model_copy(update={"enabled": virtualization})
        storage = self.storage_class
        if storage.vm_disks.enabled is None:
            disks = storage.vm_disks.model_copy(update={"enabled": virtualization})
            update["storage_class"] = storage.model_copy(update={"vm_disks": disks})
        return self.model_copy(update=update) if update else self

    @property
    def calico_crds_source(self) -> ManifestSource:
        """The CRD manifest's source; the pinned digest when it is the release's own at the pinned version."""
        source = self.calico_crds
        if source.sha256 is None and source.url is None and source.file is None and self.charts.calico.version == CALICO_VERSION:
            return ManifestSource(sha256=CALICO_CRDS_SHA256)
        return source
