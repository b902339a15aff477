"""Time to a ready platform, modelled from what a plan records: which resource waits for which.

Pulumi creates a resource once everything it waits for exists: the resources its inputs come from
and those it names in ``depends_on`` (both recorded as its ``dependencies``), its parent and its
provider. Every other resource is created at the same time. So the least time a deployment takes
is the longest chain of such waits, each resource weighted by how long creating it takes. The
weights come from a table of durations per resource type (:data:`DURATIONS_FILE`, which ships with
the package), each with what it covers and where the figure comes from.

The chain ends where the platform is ready: the KubeVirt resource, which Pulumi awaits until it
reports Available, or, without virtualization, the last resource of the deployment.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .simulate import Resource

DURATIONS_FILE = Path(__file__).with_name("durations.yaml")
"""The table of durations, package data of ``hybrid_infra.offline``: found however the package is installed."""
DURATIONS_NAME = "hybrid_infra/offline/durations.yaml"
"""The table as messages name it, the same wherever the package is installed."""
KUBEVIRT_TYPE = "kubernetes:kubevirt.io/v1:KubeVirt"
READY_TARGET = "KubeVirt Available"
LAST_TARGET = "the last resource created"


@dataclass(frozen=True)
class Duration:
    pattern: str
    """A resource type, or a pattern of them (``fnmatch``: ``kubernetes:*``)."""
    seconds: float
    covers: str
    """What happens in that time."""
    source: str
    """Where the figure comes from, or the assumption it is."""
    name: str = "*"
    """A pattern of resource names the entry is for (dynamic resources share one type)."""


class DurationTable:
    """Durations by resource type: the first entry whose pattern matches a type gives its duration."""

    def __init__(self, entries: Sequence[Duration]):
        if not entries or entries[-1].pattern != "*":
            raise ValueError("a duration table ends with an entry for every other type ('*')")
        self.entries = list(entries)

    @classmethod
    def load(cls, path: Path) -> DurationTable:
        document = yaml.safe_load(path.read_text()) or {}
        entries = []
        for index, entry in enumerate(document.get("durations") or []):
            missing = [key for key in ("type", "seconds", "covers", "source") if entry.get(key) in (None, "")]
            if missing:
                raise ValueError(f"{path}: durations[{index}] has no {', '.join(missing)}")
            entries.append(
                Duration(
                    str(entry["type"]),
                    float(entry["seconds"]),
                    str(entry["covers"]),
                    str(entry["source"]),
                    str(entry.get("name", "*")),
                )
            )
        return cls(entries)

    def of(self, resource_type: str, name: str = "") -> Duration:
        return next(
            entry
            for entry in self.entries
            if fnmatch.fnmatchcase(resource_type, entry.pattern) and fnmatch.fnmatchcase(name, entry.name)
        )


@cache
def default_table() -> DurationTable:
    """The package's table (:data:`DURATIONS_FILE`), read once."""
    return DurationTable.load(DURATIONS_FILE)


@dataclass(frozen=True)
class Step:
    resource: Resource
    duration: Duration

    @property
    def seconds(self) -> float:
        return self.duration.seconds


@dataclass(frozen=True)
class CriticalPath:
    target: str
    """What the chain ends with: KubeVirt Available, or the last resource created."""
    steps: tuple[Step, ...]
    """The resources of the chain, first to last (components, which create nothing, left out)."""

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)

    def slowest(self, count: int = 3) -> list[Step]:
        return sorted(self.steps, key=lambda step: -step.seconds)[:count]

    def summary(self) -> str:
        """One line: the chain's length, its estimated duration and its slowest steps."""
        return summary_line(self.facts())

    def facts(self) -> dict[str, Any]:
        """The chain as data (camelCase keys), for the plan's summary and ``report.md``."""
        return {
            "target": self.target,
            "seconds": _number(self.seconds),
            "minutes": round(self.seconds / 60, 1),
            "durations": DURATIONS_NAME,
            "chain": [
                {"name": step.resource.name, "type": step.resource.type, "seconds": _number(step.seconds)}
                for step in self.steps
            ],
            "slowest": [
                {"name": step.resource.name, "seconds": _number(step.seconds)} for step in self.slowest() if step.seconds
            ],
        }


def summary_line(facts: dict[str, Any]) -> str:
    """The line :meth:`CriticalPath.summary` prints, from :meth:`CriticalPath.facts` (also as read back from JSON)."""
    slowest = ", ".join(f"{step['name']} {duration_text(step['seconds'])}" for step in facts["slowest"])
    return (
        f"time to {facts['target']}: a chain of {len(facts['chain'])} resources, about {duration_text(facts['seconds'])} "
        f"(modelled from {facts['durations']}); slowest: {slowest or 'none'}"
    )


def duration_text(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _number(seconds: float) -> int | float:
    """Whole seconds as an int, so that JSON shows ``330``, not ``330.0``."""
    return int(seconds) if float(seconds).is_integer() else seconds


def critical_path(resources: Sequence[Resource], table: DurationTable) -> CriticalPath:
    """The longest chain of waits, by duration, to KubeVirt Available (or to the last resource)."""
    by_urn = {resource.urn: resource for resource in resources}
    # Sorted, so that of equally long chains the same one is chosen whatever the number of nodes.
    waits_for = {
        resource.urn: sorted(
            urn for urn in {*resource.dependencies, resource.parent, resource.provider} if urn and urn in by_urn
        )
        for resource in resources
    }
    done_at: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    for urn in _ordered(waits_for):
        before = max(waits_for[urn], key=lambda other: done_at[other], default=None)
        previous[urn] = before
        done_at[urn] = (done_at[before] if before else 0.0) + table.of(by_urn[urn].type, by_urn[urn].name).seconds
    targets = [urn for urn in by_urn if by_urn[urn].type == KUBEVIRT_TYPE]
    label = READY_TARGET if targets else LAST_TARGET
    # Of equally late resources, the first by URN.
    end = max(sorted(targets or by_urn), key=lambda urn: done_at[urn], default=None)
    chain: list[Step] = []
    while end is not None:
        # Components pass the wait on (their children wait for what they wait for) but create nothing.
        if by_urn[end].custom:
            chain.append(Step(by_urn[end], table.of(by_urn[end].type, by_urn[end].name)))
        end = previous[end]
    return CriticalPath(label, tuple(reversed(chain)))


def _ordered(waits_for: dict[str, list[str]]) -> list[str]:
    """Every URN after those it waits for (without recursion: a pool may hold thousands of nodes)."""
    ordered: list[str] = []
    placed: set[str] = set()
    for start in sorted(waits_for):
        stack = [(start, False)]
        while stack:
            urn, expanded = stack.pop()
            if urn in placed:
                continue
            if expanded:
                placed.add(urn)
                ordered.append(urn)
                continue
            stack.append((urn, True))
            stack.extend((other, False) for other in waits_for[urn] if other not in placed)
    return ordered
