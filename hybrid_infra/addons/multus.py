"""Multus: extra networks for VMs (NetworkAttachmentDefinitions), from its release manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from ..config.stack import StackSpec
from .manifests import PinnedManifest, install_release

RELEASE_URL = "https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/{version}/deployments/multus-daemonset-thick.yml"


class Multus(pulumi.ComponentResource):
    """The Multus thick plugin DaemonSet and its CRD, beside the cluster's CNI."""

    manifest: dict[str, Any]
    """The pinned source of the manifest, and whether it was expanded."""

    def __init__(self, name: str, spec: StackSpec, base_dir: Path, opts: pulumi.ResourceOptions):
        super().__init__("hybrid-infra:index:Multus", name, None, opts)
        settings = spec.addons.multus
        pinned = PinnedManifest(
            "multus", settings.version, settings.manifest, RELEASE_URL.format(version=settings.version), "addons.multus.manifest"
        )
        self.objects, self.manifest = install_release(self, name, pinned, base_dir, opts)
        self.register_outputs({"operatorManifest": self.manifest})
