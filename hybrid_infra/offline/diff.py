"""``hybrid-infra plan --against DIR``: what `pulumi up` would change, with an earlier plan as the running state.

Each resource is created, updated (naming the input keys that changed), deleted or the same, as
the engine decides it: by URN, comparing inputs, and ignoring the keys a resource lists in
``ignoreChanges``. Secret values compare as the plans show them: hidden values compare equal
unless both plans were written with ``--show-secrets``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..config.errors import ConfigError
from ..config.versions import VERSION_KEYS, shrink_problem, upgrade_problems

Action = Literal["create", "update", "delete", "same"]
PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class Change:
    urn: str
    type: str
    action: Action
    changed: list[str]
    """The input keys whose value differs (update only)."""


class NotAPlan(ConfigError):
    """The directory given to ``--against`` holds no plan."""


def load_earlier(directory: Path) -> dict[str, Any]:
    path = directory / PLAN_FILE
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise NotAPlan([f"--against {directory}: no readable {PLAN_FILE} ({error})"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise NotAPlan([f"--against {directory}: {PLAN_FILE} is not a plan written by hybrid-infra plan"])
    return document


def running_versions(document: dict[str, Any]) -> dict[str, str | None]:
    outputs = document.get("outputs") or {}
    return {key.output: outputs.get(key.output) for key in VERSION_KEYS}


def control_plane_count(outputs: dict[str, Any]) -> int | None:
    """How many control-plane nodes a plan's ``nodes`` output lists; None when it lists none (an older plan)."""
    nodes = outputs.get("nodes")
    if not isinstance(nodes, list):
        return None
    count = sum(1 for node in nodes if isinstance(node, dict) and node.get("role") == "control-plane")
    return count or None


def check_versions(earlier: dict[str, Any], asked: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` when the stack asks for a change of the running cluster the rules refuse:
    a version change, or a smaller control plane (``asked``: the new plan's outputs)."""
    problems = upgrade_problems(running_versions(earlier), asked)
    running, wanted = control_plane_count(earlier.get("outputs") or {}), control_plane_count(asked)
    shrunk = shrink_problem(running, wanted) if running is not None and wanted is not None else None
    if shrunk:
        problems.append(shrunk)
    if problems:
        raise ConfigError(problems)


def diff(earlier: dict[str, Any], current: dict[str, Any]) -> list[Change]:
    """Per resource of either plan, ordered by URN: what `pulumi up` does to go from ``earlier`` to ``current``."""
    before = {record["urn"]: record for record in earlier["resources"]}
    after = {record["urn"]: record for record in current["resources"]}
    changes = []
    for urn in sorted(before.keys() | after.keys()):
        old, new = before.get(urn), after.get(urn)
        if new is None:
            assert old is not None
            changes.append(Change(urn, old["type"], "delete", []))
        elif old is None:
            changes.append(Change(urn, new["type"], "create", []))
        else:
            ignored = set(new.get("ignoreChanges") or [])
            keys = (set(old["inputs"]) | set(new["inputs"])) - ignored
            changed = sorted(key for key in keys if old["inputs"].get(key) != new["inputs"].get(key))
            changes.append(Change(urn, new["type"], "update" if changed else "same", changed))
    return changes


def write_diff(changes: list[Change], out: Path) -> Path:
    path = out / "diff.json"
    path.write_text(json.dumps([asdict(change) for change in changes], indent=2, sort_keys=True) + "\n")
    return path
