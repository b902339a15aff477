"""Day 2: the running versions kept by Pulumi and checked before anything changes, and the in-place
upgrade of every node by the system-upgrade-controller."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic
import pulumi_kubernetes as k8s

from ..bootstrap.upgrade import upgrade_script
from ..config.cluster import VERSION_LABEL, ClusterSpec
from ..config.versions import VERSION_KEYS, shrink_problem, upgrade_problems
from ..dynamic import DynamicResource
from ..objects import child_options, create_object
from ..stack import StackSpec
from .manifests import PinnedManifest, install_release

PREINSTALLED_KEY = "preinstalled"
CONTROL_PLANE_KEY = "controlPlaneCount"


def version_failures(olds: dict[str, Any], news: dict[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    """The refused changes from the running versions (``olds``) to the asked ones (``news``)."""
    if not olds:
        return []  # a new cluster: nothing runs yet
    failures = [
        pulumi.dynamic.CheckFailure(key.output, problem)
        for key in VERSION_KEYS
        for problem in upgrade_problems({key.output: olds.get(key.output)}, {key.output: news.get(key.output)})
    ]
    running, asked = olds.get(CONTROL_PLANE_KEY), news.get(CONTROL_PLANE_KEY)
    shrunk = shrink_problem(int(running), int(asked)) if running is not None and asked is not None else None
    if shrunk:
        failures.append(pulumi.dynamic.CheckFailure(CONTROL_PLANE_KEY, shrunk))
    changed = olds.get("kubernetesVersion") != news.get("kubernetesVersion")
    if changed and news.get(PREINSTALLED_KEY):
        failures.append(
            pulumi.dynamic.CheckFailure(
                "kubernetesVersion",
                f"cluster.kubernetesVersion: {news.get('kubernetesVersion')!r} is not allowed with "
                "cluster.packages.preinstalled: the nodes' image holds the Kubernetes packages, so an upgrade "
                "needs a new image: build one with the new version, set it in the platform section and renew "
                "the nodes one at a time (see `hybrid-infra rollout`)",
            )
        )
    return failures


class _VersionGuardProvider(pulumi.dynamic.ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        # The engine checks before it changes anything: a refused version stops `pulumi preview` and `up`.
        return pulumi.dynamic.CheckResult(news, version_failures(_olds, news))

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_="versions", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=news)


class VersionGuard(DynamicResource):
    """Keeps the running versions of Kubernetes, KubeVirt and CDI and the control plane's size; refuses a change
    the version rules forbid, and a smaller control plane."""

    kubernetesVersion: pulumi.Output[str]  # noqa: N815 (the guard's input names are the stack outputs')

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        versions: dict[str, Any] = {"kubernetesVersion": spec.cluster.kubernetes_version}
        if spec.virtualization:
            versions.update(kubevirtVersion=spec.addons.kubevirt.version, cdiVersion=spec.addons.cdi.version)
        versions[PREINSTALLED_KEY] = spec.cluster.packages.preinstalled
        versions[CONTROL_PLANE_KEY] = spec.cluster.control_plane.count
        super().__init__(_VersionGuardProvider(), name, versions, opts)


RELEASE_URL = "https://github.com/rancher/system-upgrade-controller/releases/download/{version}/system-upgrade-controller.yaml"
NAMESPACE = "system-upgrade"
SERVICE_ACCOUNT = "system-upgrade"
"""The controller's service account (the release manifest): drain rights and reading nodes."""
CONTROLLER_ENV = "default-controller-env"
KUBECTL_IMAGE_ENV = "SYSTEM_UPGRADE_JOB_KUBECTL_IMAGE"
SCRIPT_SECRET = "hybrid-infra-upgrade"
SCRIPT_FILE = "upgrade.sh"
# Mounted under /host, so the script run by `chroot /host` finds it (the controller's examples/ubuntu).
SCRIPT_ON_HOST = f"/run/system-upgrade/secrets/{SCRIPT_SECRET}"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
PLANS = ("control-plane", "workers")
UPGRADE_SLACK_SECONDS = 1800
"""What a job may take besides draining: packages, kubeadm's static pods, the kubelet's restart."""


def kubectl_image(cluster: ClusterSpec) -> str:
    """kubectl within one minor of the API server (the version skew policy), from the cluster's registry."""
    return f"{cluster.image_repository.rstrip('/')}/kubectl:v{cluster.kubernetes_version}"


def adjust_controller(cluster: ClusterSpec) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The release manifest with the drain jobs' kubectl at the cluster's version (its default is
    rancher/kubectl:v1.30.3), and a pod annotation so the controller restarts to read it."""
    image = kubectl_image(cluster)

    def adjust(item: dict[str, Any]) -> dict[str, Any]:
        item = copy.deepcopy(item)
        if item["kind"] == "ConfigMap" and item["metadata"]["name"] == CONTROLLER_ENV:
            item.setdefault("data", {})[KUBECTL_IMAGE_ENV] = image
        if item["kind"] == "Deployment":
            template = item["spec"]["template"].setdefault("metadata", {})
            template.setdefault("annotations", {})["hybrid-infra.io/kubectl-image"] = image
        return item

    return adjust


def _selector(role: str, version: str) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {"key": CONTROL_PLANE_LABEL, "operator": "Exists" if role == "control-plane" else "DoesNotExist"},
            # Only nodes not yet at the version: a new cluster's Plans select nothing.
            {"key": VERSION_LABEL, "operator": "NotIn", "values": [version]},
        ]
    }


def plan_resource(cluster: ClusterSpec, role: str) -> dict[str, Any]:
    """One Plan: the control plane one node at a time, then the workers ``maxUnavailable`` at a time."""
    upgrade = cluster.upgrade
    version = cluster.kubernetes_version
    node_role = "control-plane" if role == "control-plane" else "worker"
    spec: dict[str, Any] = {
        "version": f"v{version}",
        "concurrency": 1 if role == "control-plane" else upgrade.max_unavailable,
        "nodeSelector": _selector(role, version),
        # Every taint: control-plane nodes and virtualization pools are tainted.
        "tolerations": [{"operator": "Exists"}],
        "serviceAccountName": SERVICE_ACCOUNT,
        "secrets": [{"name": SCRIPT_SECRET, "path": f"/host{SCRIPT_ON_HOST}"}],
        # Through the eviction API, so PodDisruptionBudgets hold and KubeVirt live-migrates the VMs
        # it can (its eviction webhook answers 429 and migrates; kubectl drain retries).
        "drain": {
            "ignoreDaemonSets": True,
            "deleteEmptydirData": True,
            "force": False,
            "disableEviction": False,
            "timeout": f"{upgrade.drain_timeout_seconds}s",
        },
        "jobActiveDeadlineSecs": upgrade.drain_timeout_seconds + UPGRADE_SLACK_SECONDS,
        "upgrade": {
            "image": upgrade.image,
            "command": ["chroot", "/host"],
            "args": ["bash", f"{SCRIPT_ON_HOST}/{SCRIPT_FILE}", node_role],
        },
    }
    if role == "workers":
        # Control plane before workers: the controller orders no Plans, so a worker's job first waits.
        spec["prepare"] = {
            "image": kubectl_image(cluster),
            "args": [
                "wait",
                "nodes",
                "-l",
                CONTROL_PLANE_LABEL,
                f"--for=jsonpath={{.status.nodeInfo.kubeletVersion}}=v{version}",
                f"--timeout={upgrade.timeout_minutes * 60}s",
            ],
        }
    return {
        "apiVersion": "upgrade.cattle.io/v1",
        "kind": "Plan",
        "metadata": {"name": f"hybrid-infra-{role}", "namespace": NAMESPACE},
        "spec": spec,
    }


class SystemUpgrade(pulumi.ComponentResource):
    """The system-upgrade-controller and the Plans that move running nodes to ``kubernetesVersion``."""

    plans: list[pulumi.CustomResource]
    """The control-plane and worker Plans; depend on them to come after a version change is handed over."""
    controller_manifest: dict[str, Any]
    """The pinned source of the controller's release manifest, and whether it was expanded."""

    def __init__(self, name: str, spec: StackSpec, base_dir: Path, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-infra:index:SystemUpgrade", name, None, opts)
        settings = spec.addons.system_upgrade
        pinned = PinnedManifest(
            "system-upgrade-controller",
            settings.version,
            settings.manifest,
            RELEASE_URL.format(version=settings.version),
            "addons.systemUpgrade.manifest",
        )
        self.controller, self.controller_manifest = install_release(
            self, f"{name}-controller", pinned, base_dir, opts, adjust_controller(spec.cluster)
        )
        script = k8s.core.v1.Secret(
            f"{name}-script",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SCRIPT_SECRET, namespace=NAMESPACE),
            type="Opaque",
            string_data={SCRIPT_FILE: upgrade_script(spec.cluster)},
            opts=child_options(self, opts, *self.controller),
        )
        self.plans = []
        for role in PLANS:
            self.plans.append(
                create_object(f"{name}-{role}", plan_resource(spec.cluster, role), child_options(self, opts, script))
            )
        self.register_outputs({"operatorManifest": self.controller_manifest})
