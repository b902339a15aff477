"""KubeVirt: the release operator at a pinned version, then the KubeVirt resource, awaited until Available."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from ..stack import StackSpec
from .manifests import OperatorRelease
from .placement import off_virtualization_pools, on_virtualization_pools

RELEASE_URL = "https://github.com/kubevirt/kubevirt/releases/download/{version}/kubevirt-operator.yaml"
NAMESPACE = "kubevirt"
WAIT_FOR_AVAILABLE = {"pulumi.com/waitFor": "condition=Available", "pulumi.com/timeoutSeconds": "1800"}
"""An operator's resource is ready once it reports Available; it first pulls every image of its release on
the nodes (KubeVirt's virt-handler on each virtualization node), so `pulumi up` waits 30 minutes, not the
provider's default 10."""
EMULATION_WARNING = (
    "KubeVirt emulates VMs in software (addons.kubevirt.useEmulation): expect them to run many times slower; "
    "for tests and demos only"
)


def workload_update_methods(spec: StackSpec) -> list[str]:
    configured = spec.addons.kubevirt.workload_update_methods
    if configured is not None:
        return list(configured)
    # Live migration needs volumes that two nodes can attach at once.
    return ["LiveMigrate"] if spec.addons.storage_class.read_write_many else []


def kubevirt_resource(spec: StackSpec) -> dict[str, Any]:
    """The KubeVirt resource: workloads on the virtualization pools, masquerade on the pod network."""
    kubevirt = spec.addons.kubevirt
    developer: dict[str, Any] = {"featureGates": list(kubevirt.feature_gates)}
    if kubevirt.use_emulation:
        developer["useEmulation"] = True
    body: dict[str, Any] = {
        "certificateRotateStrategy": {},
        "configuration": {
            "developerConfiguration": developer,
            "network": {"defaultNetworkInterface": "masquerade", "permitBridgeInterfaceOnPodNetwork": False},
        },
        "imagePullPolicy": "IfNotPresent",
        "infra": {"nodePlacement": off_virtualization_pools(spec.cluster)},
        "workloads": {"nodePlacement": on_virtualization_pools(spec.cluster)},
        # Destroying the stack must never delete running VMs silently.
        "uninstallStrategy": "BlockUninstallIfWorkloadsExist",
        "workloadUpdateStrategy": {"workloadUpdateMethods": workload_update_methods(spec)},
    }
    if kubevirt.image_registry:
        body["imageRegistry"] = kubevirt.image_registry
        body["imageTag"] = kubevirt.version
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "KubeVirt",
        "metadata": {"name": "kubevirt", "namespace": NAMESPACE, "annotations": dict(WAIT_FOR_AVAILABLE)},
        "spec": body,
    }


class KubeVirt(OperatorRelease):
    """The KubeVirt operator objects and the KubeVirt resource, ready once it reports Available."""

    def __init__(self, name: str, spec: StackSpec, base_dir: Path, opts: pulumi.ResourceOptions):
        super().__init__("KubeVirt", name, spec.addons.kubevirt, RELEASE_URL, kubevirt_resource(spec), base_dir, opts)
        if spec.addons.kubevirt.use_emulation:
            pulumi.log.warn(EMULATION_WARNING, resource=self)
        self.register_outputs({"operatorManifest": self.operator_manifest})
