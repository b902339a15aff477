"""The labels that tie a workload's pods to its Service and NetworkPolicy."""

from __future__ import annotations

NAME_LABEL = "app.kubernetes.io/name"


def workload_labels(name: str) -> dict[str, str]:
    return {NAME_LABEL: name, "app.kubernetes.io/managed-by": "hybrid-infra"}


def selector(name: str) -> dict[str, str]:
    return {NAME_LABEL: name}
