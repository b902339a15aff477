"""CDI (containerized data importer): the release operator, then the CDI resource, awaited until Available."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..objects import child_options
from ..stack import StackSpec
from .kubevirt import WAIT_FOR_AVAILABLE
from .manifests import OperatorRelease
from .placement import off_virtualization_pools, on_virtualization_pools

RELEASE_URL = "https://github.com/kubevirt/containerized-data-importer/releases/download/{version}/cdi-operator.yaml"
NAMESPACE = "cdi"
UPLOAD_PROXY_SELECTOR = {"cdi.kubevirt.io": "cdi-uploadproxy"}


def cdi_resource(spec: StackSpec) -> dict[str, Any]:
    """The CDI resource: importer pods on the virtualization pools, its own services off them."""
    config: dict[str, Any] = {"featureGates": list(spec.addons.cdi.feature_gates)}
    if spec.addons.cdi.upload_proxy_url is not None:
        # What `virtctl image-upload` is told to use, and what CDI writes in its status for clients.
        config["uploadProxyURLOverride"] = spec.addons.cdi.upload_proxy_url
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "CDI",
        "metadata": {"name": "cdi", "annotations": dict(WAIT_FOR_AVAILABLE)},
        "spec": {
            "config": config,
            "imagePullPolicy": "IfNotPresent",
            # CDI's infra is a node placement itself, unlike KubeVirt's.
            "infra": off_virtualization_pools(spec.cluster),
            "workload": on_virtualization_pools(spec.cluster),
            "uninstallStrategy": "BlockUninstallIfWorkloadsExist",
        },
    }


class Cdi(OperatorRelease):
    """The CDI operator objects, the CDI resource and, if asked, a load balancer for its upload proxy."""

    def __init__(self, name: str, spec: StackSpec, base_dir: Path, opts: pulumi.ResourceOptions):
        super().__init__("Cdi", name, spec.addons.cdi, RELEASE_URL, cdi_resource(spec), base_dir, opts)
        if spec.addons.cdi.upload_proxy:
            k8s.core.v1.Service(
                f"{name}-upload-proxy",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="cdi-uploadproxy-public", namespace=NAMESPACE),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="LoadBalancer",
                    load_balancer_source_ranges=list(spec.addons.cdi.upload_proxy_allowed_cidrs),
                    selector=UPLOAD_PROXY_SELECTOR,
                    ports=[k8s.core.v1.ServicePortArgs(name="https", port=443, target_port=8443, protocol="TCP")],
                ),
                opts=child_options(self, opts, self.resource),
            )
        self.register_outputs({"operatorManifest": self.operator_manifest})
