"""Pure: the script that moves a running node to the cluster's Kubernetes version (see node-upgrade.sh)."""

from __future__ import annotations

from ..config.cluster import VERSION_LABEL, ClusterSpec
from .cloudinit import containerd_config, containerd_package, containerd_settings, shell_script
from .kubeadm import pause_image


def upgrade_script(cluster: ClusterSpec) -> str:
    return shell_script(
        "node-upgrade.sh",
        {
            "KUBERNETES_VERSION": cluster.kubernetes_version,
            "PACKAGE_REPOSITORY": cluster.packages.repository.rstrip("/"),
            "PACKAGE_REVISION": cluster.packages.revision,
            "VERSION_LABEL": VERSION_LABEL,
            **containerd_settings(cluster),
            "CONTAINERD_CONFIG": containerd_config(cluster),
        },
    )


def upgrade_steps(cluster: ClusterSpec) -> str:
    """What the upgrade script does on a node, in its order (node-upgrade.sh ``main``)."""
    version = cluster.kubernetes_version
    return (
        f"first containerd (containerd.io {containerd_package(cluster)} where the node runs another containerd, "
        f"1.7 on nodes made before, and its configuration with the sandbox image {pause_image(cluster)}), then "
        f"kubeadm {version} and "
        f"`kubeadm upgrade`, then kubelet and kubectl {version}"
    )
