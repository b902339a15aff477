"""The ``addons`` section: pinned versions and mirrors of what runs on every cluster, whatever the platform."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .errors import problem
from .fields import DnsLabel, HttpUrl, NonEmpty, Sha256, Spec

CILIUM_VERSION = "1.19.3"
CALICO_VERSION = "v3.30.3"
KUBEVIRT_VERSION = "v1.9.0"
CDI_VERSION = "v1.66.0"
MULTUS_VERSION = "v4.2.2"
SYSTEM_UPGRADE_CONTROLLER_VERSION = "v0.20.1"


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
    storage_class: StorageClassSpec = StorageClassSpec()
    kubevirt: KubeVirtSpec = KubeVirtSpec()
    cdi: CdiSpec = CdiSpec()
    multus: MultusSpec = MultusSpec()
    system_upgrade: SystemUpgradeSpec = SystemUpgradeSpec()

