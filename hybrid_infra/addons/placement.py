"""Where virtualization components run: on the pools marked for virtualization, and off them."""

from __future__ import annotations

from typing import Any

from ..config.cluster import POOL_LABEL, ClusterSpec, Taint


def toleration(taint: Taint) -> dict[str, str]:
    if taint.value:
        return {"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect}
    return {"key": taint.key, "operator": "Exists", "effect": taint.effect}


def _pools_affinity(operator: str, pools: list[str]) -> dict[str, Any]:
    term = {"matchExpressions": [{"key": POOL_LABEL, "operator": operator, "values": pools}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def virtualization_pools(cluster: ClusterSpec) -> list[str]:
    return [pool.name for pool in cluster.pools if pool.virtualization]


def virtualization_tolerations(cluster: ClusterSpec) -> list[dict[str, str]]:
    found = [toleration(t) for pool in cluster.pools if pool.virtualization for t in pool.taints]
    return [dict(item) for item in {tuple(sorted(t.items())): t for t in found}.values()]


def on_virtualization_pools(cluster: ClusterSpec) -> dict[str, Any]:
    """Node placement onto the virtualization pools, tolerating their taints."""
    placement: dict[str, Any] = {"affinity": _pools_affinity("In", virtualization_pools(cluster))}
    tolerations = virtualization_tolerations(cluster)
    if tolerations:
        placement["tolerations"] = tolerations
    return placement


def off_virtualization_pools(cluster: ClusterSpec) -> dict[str, Any]:
    """Node placement anywhere but the virtualization pools, which stay for the VMs."""
    return {"affinity": _pools_affinity("NotIn", virtualization_pools(cluster))}
