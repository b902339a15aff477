"""Pure: the script that moves a running node to the cluster's Kubernetes version (see node-upgrade.sh)."""

from __future__ import annotations

from ..config.cluster import VERSION_LABEL, ClusterSpec
from .cloudinit import shell_script


def upgrade_script(cluster: ClusterSpec) -> str:
    return shell_script(
        "node-upgrade.sh",
        {
            "KUBERNETES_VERSION": cluster.kubernetes_version,
            "PACKAGE_REPOSITORY": cluster.packages.repository.rstrip("/"),
            "PACKAGE_REVISION": cluster.packages.revision,
            "VERSION_LABEL": VERSION_LABEL,
        },
    )
