"""Multus: extra networks for VMs (NetworkAttachmentDefinitions), from its release manifest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from ..config.fields import quantity_bytes
from ..stack import StackSpec
from .manifests import PinnedManifest, install_release

RELEASE_URL = "https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/{version}/deployments/multus-daemonset-thick.yml"
IMAGE = "ghcr.io/k8snetworkplumbingwg/multus-cni"
MOVING_TAG = "snapshot-thick"
"""The tag the manifest of a release names (deployments/multus-daemonset-thick.yml at v4.3.0), which
moves with every commit; the release's own image is ``<version>-thick`` (.github/workflows/
image-push-release.yml at v4.3.0: the tag's name and ``-thick``)."""
DAEMON = "kube-multus"
"""The container of the thick plugin's daemon, which runs the delegate CNI plugins in its own cgroup."""
DAEMON_MEMORY = {"requests": "100Mi", "limits": "512Mi"}
"""The daemon's memory, raised from the release's 50Mi request and limit, which upstream reports
OOMKilled: the daemon alone uses about 53Mi once started (k8snetworkplumbingwg/multus-cni issue 1349)
and 50 to 60MiB by its own profile, and each delegate plugin it runs counts against the same limit,
about 55MiB RSS per cilium-cni invocation (pull request 1510, merged in v4.3.0); after a node reboot
every pod's network is set up at once, and 200Mi does not always hold that burst (issue 1346, pull
request 1383). 100Mi holds the daemon at rest; 512Mi the daemon and eight delegate calls at once."""


def release_image(version: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Each container of the manifest that runs the moving image runs the release's instead, and the
    daemon has at least :data:`DAEMON_MEMORY`."""

    def adjust(document: dict[str, Any]) -> dict[str, Any]:
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            if container.get("image") == f"{IMAGE}:{MOVING_TAG}":
                container["image"] = f"{IMAGE}:{version}-thick"
        if document.get("kind") == "DaemonSet":
            for container in pod.get("containers", []):
                if container.get("name") == DAEMON:
                    _raise_memory(container)
        return document

    return adjust


def _raise_memory(container: dict[str, Any]) -> None:
    """The daemon's memory request and limit raised to :data:`DAEMON_MEMORY` where the manifest gives
    less; what it gives more of, or leaves unset (no limit), stays."""
    resources = container.get("resources") or {}
    for kind, wanted in DAEMON_MEMORY.items():
        given = (resources.get(kind) or {}).get("memory")
        try:
            low = given is not None and quantity_bytes(str(given)) < quantity_bytes(wanted)
        except ValueError:
            low = False
        if low:
            resources[kind]["memory"] = wanted


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
