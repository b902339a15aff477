"""Version rules of a running cluster, enforced before anything changes.

Kubernetes upgrades one minor version at a time and never downgrades (kubeadm refuses to skip a
minor; the version skew policy lets kubelets lag the API server, never lead it). KubeVirt and CDI
operators support updates from the previous minor release only. The same rules serve ``pulumi
preview`` (a resource that keeps the running versions checks the new ones) and ``hybrid-infra
plan --against`` (the earlier plan's versions).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .fields import MAX_KUBERNETES, MIN_KUBERNETES

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


END_OF_LIFE = {
    "1.31": datetime.date(2025, 11, 11),
    "1.32": datetime.date(2026, 2, 28),
    "1.33": datetime.date(2026, 6, 28),
    "1.34": datetime.date(2026, 10, 27),
    "1.35": datetime.date(2027, 2, 28),
    "1.36": datetime.date(2027, 6, 28),
}
"""The day upstream stops patching each minor: kubernetes/website data/releases/schedule.yaml
(``endOfLifeDate``; minors already ended in data/releases/eol.yaml), as read on 2026-12-07. A minor
missing here has no date in that calendar yet (1.37)."""


def minor_of(version: str) -> tuple[int, int] | None:
    parts = _parts(version)
    return (parts[0], parts[1]) if parts else None


@dataclass(frozen=True)
class Pin:
    """A version the project pins by default, and the Kubernetes minors its upstream supports.

    docs/versions.md shows every pin with its source; a test finds each there.
    """

    component: str
    version: str
    kubernetes: tuple[str, str] | None
    """The oldest and newest minor upstream supports at that tag; None: upstream states no range."""
    source: str
    """Where upstream says so: repository, tag and file."""

    def supports(self, version: str) -> bool:
        minor = minor_of(version)
        if self.kubernetes is None or minor is None:
            return True
        low, high = (tuple(int(part) for part in bound.split(".")) for bound in self.kubernetes)
        return low <= minor <= high


def kept_pins(pins: Mapping[str, Pin], chosen: Mapping[str, str | None]) -> list[Pin]:
    """The pins whose version the stack keeps (``chosen``: the version it uses, by the pins' keys, or None
    for a component it does not run): a component set to another version is the stack's own choice."""
    return [pin for key, pin in pins.items() if chosen[key] == pin.version]


def unsupported_warnings(version: str, pins: list[Pin]) -> list[str]:
    """One line naming ``cluster.kubernetesVersion`` for each pin whose upstream does not support ``version``."""
    return [
        f"cluster.kubernetesVersion: {version} is outside what {pin.component} {pin.version} supports "
        f"({pin.kubernetes[0]} to {pin.kubernetes[1]}; docs/versions.md)"
        for pin in pins
        if pin.kubernetes is not None and not pin.supports(version)
    ]


def end_of_life_warning(version: str, today: datetime.date) -> str | None:
    """One line naming ``cluster.kubernetesVersion`` when ``version``'s minor is past its end of life on ``today``."""
    parts = minor_of(version)
    if parts is None:
        return None
    minor = f"{parts[0]}.{parts[1]}"
    ended = END_OF_LIFE.get(minor)
    if ended is None or today <= ended:
        return None
    accepted = [f"{MIN_KUBERNETES[0]}.{m}" for m in range(MIN_KUBERNETES[1], MAX_KUBERNETES[1] + 1)]
    supported = [m for m in accepted if END_OF_LIFE.get(m, today) >= today]
    after = f"; upstream patches {', '.join(supported)}" if supported else ""
    return (
        f"cluster.kubernetesVersion: {version} is past its end of life ({minor} left upstream patch support on "
        f"{ended.isoformat()}){after}: upgrade one minor at a time (docs/versions.md)"
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


def shrink_problem(running: int, asked: int) -> str | None:
    """Why a running control plane of ``running`` nodes cannot become one of ``asked``, or None.

    Each control-plane node is an etcd member. The nodes go with their VMs, and nothing removes their
    members from etcd first: from 3 to 1, the one left waits for a quorum of 2 that never answers."""
    if asked >= running:
        return None
    return (
        f"cluster.controlPlane.count: {asked} is not allowed; the running cluster has {running} control-plane "
        "nodes, each an etcd member, and removing nodes without removing their members first loses etcd's "
        f"quorum: keep {running}"
    )


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
