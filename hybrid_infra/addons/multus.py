"""Multus: extra networks for VMs (NetworkAttachmentDefinitions), from its release manifest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from ..config.stack import StackSpec
from .manifests import PinnedManifest, install_release

RELEASE_URL = "https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/{version}/deployments/multus-daemonset-thick.yml"
IMAGE = "ghcr.io/k8snetworkplumbingwg/multus-cni"
MOVING_TAG = "snapshot-thick"
"""The tag the manifest of a release names (deployments/multus-daemonset-thick.yml at v4.3.0), which
moves with every commit; the release's own image is ``<version>-thick`` (.github/workflows/
image-push-release.yml at v4.3.0: the tag's name and ``-thick``)."""


def release_image(version: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Each container of the manifest that runs the moving image runs the release's instead."""

    def adjust(document: dict[str, Any]) -> dict[str, Any]:
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            if container.get("image") == f"{IMAGE}:{MOVING_TAG}":
                container["image"] = f"{IMAGE}:{version}-thick"
        return document

    return adjust


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
        self.objects, self.manifest = install_release(self, name, pinned, base_dir, opts, release_image(settings.version))
        self.register_outputs({"operatorManifest": self.manifest})
