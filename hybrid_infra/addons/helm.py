"""A Helm release at a pinned chart version, rendered by the provider itself (no remote component).

Where the stack's lock file has the chart (:mod:`hybrid_infra.lockfile`), the provider installs the
archive the program checked against it, not whatever the repository serves when the provider asks:
under the engine the program downloads the archive from the URL the lock names, refuses it if its
sha256 differs, and keeps it under ``.hybrid-infra/charts/sha256-<digest>/`` in its directory; the
release's ``chart`` is that relative path (pulumi-kubernetes resolves a local chart against the
program's directory, and prefers it only without ``repositoryOpts``). Offline nothing is fetched, and
the release's inputs are the same as ``pulumi up``'s. Without an entry the release names the
repository and version, as it always did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import lockfile
from ..config.addons import ChartSpec
from .manifests import fetches_manifests


def release(
    name: str,
    release_name: str,
    chart: str,
    source: ChartSpec,
    namespace: str,
    values: pulumi.Input[dict[str, Any]],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    # helm.v3.Release, not helm.v4.Chart: a remote component fails at the first preview of a new
    # stack, where the cluster's kubeconfig is still unknown (pulumi-kubernetes issue 3027).
    entry = lockfile.record_chart(chart, source, name)
    if entry is None:
        location: dict[str, Any] = {
            "chart": chart,
            "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=source.repository),
        }
    else:
        location = {"chart": lockfile.locked_chart(entry, chart, Path.cwd(), fetch=fetches_manifests())}
    return k8s.helm.v3.Release(
        name,
        name=release_name,
        version=source.version,
        namespace=namespace,
        create_namespace=namespace != "kube-system",
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=900,
        opts=opts,
        **location,
    )
