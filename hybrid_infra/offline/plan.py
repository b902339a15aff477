"""``hybrid-infra plan``: load a stack file, run the program on the simulated cloud, write artifacts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, StackSpec, parse_stack_config
from ..platform import program
from .simulate import UNKNOWN, Secret, Simulation, Unknown, simulate

SECRET = "[secret]"
UNKNOWN_TEXT = "[unknown]"
STACK_FILE = "Pulumi.{stack}.yaml"


class StackNotFound(Exception):
    def __init__(self, stack: str, directory: Path, available: list[str]):
        self.stack = stack
        self.available = available
        listed = ", ".join(available) if available else "none"
        super().__init__(f"no stack {stack!r} in {directory}; stacks that exist: {listed}")


@dataclass
class StackConfig:
    """A stack file's config, with encrypted values replaced by stand-ins the plan never shows."""

    path: Path
    values: dict[str, Any]
    secret_keys: list[str]


def available_stacks(stacks_dir: Path) -> list[str]:
    prefix, suffix = STACK_FILE.split("{stack}")
    return sorted(p.name[len(prefix) : -len(suffix)] for p in stacks_dir.glob(STACK_FILE.format(stack="*")))


def load_stack(stacks_dir: Path, stack: str) -> StackConfig:
    path = stacks_dir / STACK_FILE.format(stack=stack)
    if not path.is_file():
        raise StackNotFound(stack, stacks_dir, available_stacks(stacks_dir))
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        raise ConfigError([f"{path.name}: {where}: not valid YAML ({getattr(error, 'problem', error)})"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigError([f"{path.name}: expected a mapping with a 'config' key"])
    secret_keys: list[str] = []
    values = {}
    for key, value in (document.get("config") or {}).items():
        decoded, secret = _stand_in_secrets(value, key)
        values[key] = decoded
        if secret:
            secret_keys.append(key)
    return StackConfig(path, values, secret_keys)


def _stand_in_secrets(value: Any, path: str) -> tuple[Any, bool]:
    """``secure:`` values are encrypted for the stack's secrets provider; offline they become stand-ins."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return f"simulated-secret-for-{path}", True
    if isinstance(value, dict):
        items = {k: _stand_in_secrets(v, f"{path}.{k}") for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items_list = [_stand_in_secrets(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return [v for v, _ in items_list], any(s for _, s in items_list)
    return value, False


@dataclass
class Plan:
    stack: str
    spec: StackSpec
    simulation: Simulation


def run_plan(stacks_dir: Path, stack: str, preview: bool = False) -> Plan:
    """Validate the stack (raising :class:`ConfigError`) and run the program on the simulated cloud."""
    config = load_stack(stacks_dir, stack)
    spec = parse_stack_config(config.values)
    simulation = simulate(
        program, stack=stack, config=config.values, secret_keys=config.secret_keys, spec=spec, preview=preview
    )
    return Plan(stack, spec, simulation)


# --- rendering ---------------------------------------------------------------------------


class Redactor:
    """Shows or hides secrets; inside texts it hides each secret value the program holds."""

    def __init__(self, simulation: Simulation, show_secrets: bool):
        self.show_secrets = show_secrets
        leaves = set()
        for resource in simulation.resources:
            for tree in (resource.inputs, resource.outputs):
                leaves.update(_secret_leaves(tree, inside=False))
        # A secret that contains another is a composite (a whole cloud-config); hide its parts only.
        atoms = [s for s in leaves if len(s) >= 6 and not any(o != s and o in s for o in leaves if len(o) >= 6)]
        self._atoms = sorted(atoms, key=len, reverse=True)

    def value(self, value: Any) -> Any:
        if isinstance(value, Secret):
            return self.value(value.value) if self.show_secrets else SECRET
        if isinstance(value, Unknown):
            return UNKNOWN_TEXT
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    def text(self, value: Any) -> str:
        """A text that may be, or contain, secrets (user data): secret parts replaced."""
        if isinstance(value, Unknown):
            return UNKNOWN_TEXT
        plain = value.value if isinstance(value, Secret) else value
        if self.show_secrets:
            return plain
        for atom in self._atoms:
            plain = plain.replace(atom, SECRET)
        return plain


def _secret_leaves(value: Any, inside: bool) -> Iterator[str]:
    if isinstance(value, Secret):
        yield from _secret_leaves(value.value, True)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_leaves(item, inside)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_leaves(item, inside)
    elif inside and isinstance(value, str):
        yield value


def plan_document(plan: Plan, redactor: Redactor) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "resources": [
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent or None,
                "inputs": redactor.value(resource.inputs),
                "outputs": redactor.value(resource.outputs),
                "dependencies": resource.dependencies,
            }
            for resource in plan.simulation.resources
        ],
        "outputs": redactor.value(plan.simulation.outputs),
    }


USER_DATA_INPUTS = {"openstack:compute/instance:Instance": "userData"}


def user_data(plan: Plan) -> dict[str, Any]:
    """Each VM's cloud-config by node name, as the program passed it (maybe secret)."""
    found = {}
    for resource in plan.simulation.resources:
        key = USER_DATA_INPUTS.get(resource.type)
        if key and key in resource.inputs:
            name = resource.inputs.get("name", resource.name)
            found[name if isinstance(name, str) else resource.name] = resource.inputs[key]
    return dict(sorted(found.items()))


def write_plan(plan: Plan, out: Path, show_secrets: bool) -> list[Path]:
    """Write plan.json and nodes/*.user-data under ``out``, replacing what an earlier plan wrote there."""
    redactor = Redactor(plan.simulation, show_secrets)
    out.mkdir(parents=True, exist_ok=True)
    nodes_dir = out / "nodes"
    if nodes_dir.exists():
        shutil.rmtree(nodes_dir)
    nodes_dir.mkdir()
    written = [out / "plan.json"]
    written[0].write_text(json.dumps(plan_document(plan, redactor), indent=2, sort_keys=True) + "\n")
    for name, text in user_data(plan).items():
        path = nodes_dir / f"{name}.user-data"
        path.write_text(redactor.text(text))
        written.append(path)
    return written


__all__ = [
    "UNKNOWN",
    "Plan",
    "Redactor",
    "StackNotFound",
    "available_stacks",
    "load_stack",
    "plan_document",
    "run_plan",
    "user_data",
    "write_plan",
]
