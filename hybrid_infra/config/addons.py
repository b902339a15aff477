"""The ``addons`` section: pinned versions and mirrors of what runs on every cluster, whatever the platform."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .errors import problem
from .fields import DnsLabel, HttpUrl, NonEmpty, Sha256, Spec
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


class StorageClassSpec(Spec):
    """The default StorageClass the platform's CSI driver backs; its parameters belong to the platform section."""

    name: DnsLabel = "standard"
    reclaim_policy: Literal["Delete", "Retain"] = "Delete"
    read_write_many: bool = Field(
        False, description="volumes can attach to two nodes at once, which live migration needs"
    )


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


class MultusSpec(Spec):
    enabled: bool = False
    version: NonEmpty = MULTUS_VERSION
    manifest: ManifestSource = ManifestSource()


class SystemUpgradeSpec(Spec):
    """The system-upgrade-controller that applies version changes to running nodes."""

    version: NonEmpty = SYSTEM_UPGRADE_CONTROLLER_VERSION
    manifest: ManifestSource = ManifestSource()


class AddonsSpec(Spec):
    charts: ChartsSpec = ChartsSpec()
    calico_crds: ManifestSource = Field(
        ManifestSource(), description="Calico's CRDs, applied before its chart; the release's operator-crds.yaml"
    )
    storage_class: StorageClassSpec = StorageClassSpec()
    kubevirt: KubeVirtSpec = KubeVirtSpec()
    cdi: CdiSpec = CdiSpec()
    multus: MultusSpec = MultusSpec()
    system_upgrade: SystemUpgradeSpec = SystemUpgradeSpec()

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
        }
        return kept_pins(ADDON_PINS, chosen)

    @property
    def calico_crds_source(self) -> ManifestSource:
        """The CRD manifest's source; the pinned digest when it is the release's own at the pinned version."""
        source = self.calico_crds
        if source.sha256 is None and source.url is None and source.file is None and self.charts.calico.version == CALICO_VERSION:
            return ManifestSource(sha256=CALICO_CRDS_SHA256)
        return source
