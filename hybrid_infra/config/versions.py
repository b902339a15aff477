"""Version rules of a running cluster, enforced before anything changes.

Kubernetes upgrades one minor version at a time and never downgrades (kubeadm refuses to skip a
minor; the version skew policy lets kubelets lag the API server, never lead it). KubeVirt and CDI
operators support updates from the previous minor release only. The same rules serve ``pulumi
preview`` (a resource that keeps the running versions checks the new ones) and ``hybrid-infra
plan --against`` (the earlier plan's versions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class VersionKey:
    output: str
    """The stack output (and version-guard input) that records the running version."""
    key: str
    """Where the stack sets it."""
    what: str


VERSION_KEYS = (
    VersionKey("kubernetesVersion", "cluster.kubernetesVersion", "the cluster"),
    VersionKey("kubevirtVersion", "addons.kubevirt.version", "KubeVirt"),
    VersionKey("cdiVersion", "addons.cdi.version", "CDI"),
)


def _parts(version: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(version)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def change_problem(key: VersionKey, running: str, asked: str) -> str | None:
    """One line naming the key, the running and the asked version, or None when the change is allowed."""
    old, new = _parts(running), _parts(asked)
    if old is None or new is None or old == new:
        return None
    if new < old:
        return (
            f"{key.key}: {asked!r} is not allowed; {key.what} runs {running} and cannot be downgraded "
            f"(keep {running} or a later patch of {old[0]}.{old[1]})"
        )
    if new[0] != old[0] or new[1] > old[1] + 1:
        return (
            f"{key.key}: {asked!r} is not allowed; {key.what} runs {running} and upgrades one minor version at a "
            f"time: use {old[0]}.{old[1]}.x or {old[0]}.{old[1] + 1}.x first"
        )
    return None


def upgrade_problems(running: Mapping[str, str | None], asked: Mapping[str, str | None]) -> list[str]:
    """Every version change from ``running`` to ``asked`` (both keyed by ``VersionKey.output``) that is refused."""
    problems = []
    for key in VERSION_KEYS:
        old, new = running.get(key.output), asked.get(key.output)
        if old and new:
            problem = change_problem(key, old, new)
            if problem:
                problems.append(problem)
    return problems
