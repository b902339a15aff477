"""A Helm release at a pinned chart version, rendered by the provider itself (no remote component)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..config.addons import ChartSpec


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
    return k8s.helm.v3.Release(
        name,
        name=release_name,
        chart=chart,
        version=source.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=source.repository),
        namespace=namespace,
        create_namespace=namespace != "kube-system",
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=900,
        opts=opts,
    )
