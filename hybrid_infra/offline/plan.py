"""``hybrid-infra plan``: load a stack file, run the program on the simulated cloud, write artifacts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from ahocorasick_rs import AhoCorasick

from .. import yamltext
from ..config.errors import ConfigError
from ..lockfile import UNLOCKED, Artifact, Ledger, Lock, load_lock, lock_path, recording
from ..platform import build
from ..stack import StackSpec, parse_stack_config
from .critical_path import CriticalPath, critical_path, default_table
from .report import render_report, summary
from .simulate import Secret, Simulation, Unknown, simulate

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
    secret_values: list[str]
    """The stand-ins of encrypted values, to hide wherever they end up."""
    secret_paths: list[str]
    """Where encrypted values stand: ``<key>`` or ``<key>.<path>``, as ``parse_stack_config`` takes them."""


def available_stacks(stacks_dir: Path) -> list[str]:
    prefix, suffix = STACK_FILE.split("{stack}")
    return sorted(p.name[len(prefix) : -len(suffix)] for p in stacks_dir.glob(STACK_FILE.format(stack="*")))


def stack_file(stacks_dir: Path, stack: str) -> Path:
    return stacks_dir / STACK_FILE.format(stack=stack)


def load_stack(stacks_dir: Path, stack: str) -> StackConfig:
    path = stack_file(stacks_dir, stack)
    if not path.is_file():
        raise StackNotFound(stack, stacks_dir, available_stacks(stacks_dir))
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        raise ConfigError([f"{where}: not valid YAML ({getattr(error, 'problem', error)})"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigError(["(top level): expected a mapping with a 'config' key"])
    stand_ins: dict[str, str] = {}
    values = {key: _stand_in_secrets(value, key, stand_ins) for key, value in (document.get("config") or {}).items()}
    secret_keys = [key for key, value in values.items() if any(s in json.dumps(value) for s in stand_ins.values())]
    return StackConfig(path, values, secret_keys, list(stand_ins.values()), list(stand_ins))


def _stand_in_secrets(value: Any, path: str, stand_ins: dict[str, str]) -> Any:
    """``secure:`` values are encrypted for the stack's secrets provider; offline they become stand-ins."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        stand_ins[path] = f"simulated-secret-for-{path}"
        return stand_ins[path]
    if isinstance(value, dict):
        return {k: _stand_in_secrets(v, f"{path}.{k}", stand_ins) for k, v in value.items()}
    if isinstance(value, list):
        return [_stand_in_secrets(v, f"{path}[{i}]", stand_ins) for i, v in enumerate(value)]
    return value


@dataclass
class Plan:
    stack: str
    spec: StackSpec
    simulation: Simulation
    config: StackConfig
    artifacts: list[Artifact] = field(default_factory=list)
    """What ``pulumi up`` fetches: release manifests and Helm charts, each with its lock state."""
    lock: Lock | None = None
    """The stack's lock file (``stacks/<stack>.lock.yaml``), where it has one."""

    @cached_property
    def time_to_ready(self) -> CriticalPath:
        """The longest chain of waits to a ready platform, weighted by the package's durations table."""
        return critical_path(self.simulation.resources, default_table())


def run_plan(stacks_dir: Path, stack: str, cluster_exists: bool = False, locked: bool = True) -> Plan:
    """Validate the stack (raising :class:`ConfigError`) and run the program on the simulated cloud;
    ``cluster_exists``: as a later ``pulumi up`` of the running cluster (its record says it answered).

    With ``locked``, the run checks against the stack's lock file, where it has one (what ``pulumi up``
    would refuse and can be seen offline is refused); without, the lock file is not read (``hybrid-infra
    lock``, which writes it again)."""
    config = load_stack(stacks_dir, stack)
    spec = parse_stack_config(config.values, config.secret_paths)
    project_dir = stacks_dir.resolve().parent
    lock = load_lock(lock_path(stacks_dir, stack), stack) if locked else None
    ledger = Ledger(lock, spec)

    def program() -> Any:
        with recording(ledger):
            return build(spec, base_dir=project_dir)

    simulation = simulate(
        program,
        stack=stack,
        config=config.values,
        secret_keys=config.secret_keys,
        spec=spec,
        cluster_exists=cluster_exists,
    )
    return Plan(stack, spec, simulation, config, ledger.artifacts, lock)


# --- rendering ---------------------------------------------------------------------------


class Redactor:
    """Shows or hides secrets; inside texts it hides every secret value the program started from.

    Those are the outputs providers compute and declare secret (keys, tokens, random values) and
    the stack's encrypted config. Everything secret the program derives (cloud-configs, kubeconfigs) is made of
    them. A multi-line secret (a PEM key) is hidden line by line, armor included, so it is hidden
    however a text indents it.
    """

    MIN_LENGTH = 6

    def __init__(self, simulation: Simulation, show_secrets: bool, config_secrets: Iterable[str] = ()):
        self.show_secrets = show_secrets
        origins = set(config_secrets)
        for resource in simulation.resources:
            # Computed by the provider, not echoed from an input (a Secret's data derives from others).
            for key in set(resource.secret_outputs) - set(resource.inputs):
                origins.update(_secret_leaves(Secret(resource.outputs.get(key)), inside=False))
        atoms: set[str] = set()
        for origin in origins:
            lines = [line.strip() for line in origin.splitlines()]
            atoms.update(line for line in lines if len(line) >= self.MIN_LENGTH)
        # One pass over a text finds every atom in it, however many atoms (a join token per node).
        self._atoms = AhoCorasick(sorted(atoms)) if atoms else None

    def value(self, value: Any) -> Any:
        if isinstance(value, Secret):
            # Hidden leaf by leaf: keys and shape stay, so a redacted manifest is still a valid object.
            return self.value(value.value) if self.show_secrets else _hidden(value.value)
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
        if self.show_secrets or self._atoms is None:
            return str(plain)
        # Every occurrence of every atom; overlapping ones hidden behind one marker.
        spans = sorted((start, end) for _, start, end in self._atoms.find_matches_as_indexes(plain, overlapping=True))
        pieces: list[str] = []
        shown = 0  # plain[:shown] is in pieces
        for start, end in _merged(spans):
            pieces += (plain[shown:start], SECRET)
            shown = end
        pieces.append(plain[shown:])
        return "".join(pieces)


def _merged(spans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Sorted spans, those that overlap joined."""
    current: tuple[int, int] | None = None
    for start, end in spans:
        if current is not None and start < current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


def _hidden(value: Any) -> Any:
    if isinstance(value, Secret):
        return _hidden(value.value)
    if isinstance(value, dict):
        return {key: _hidden(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hidden(item) for item in value]
    return SECRET


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
        "showSecrets": redactor.show_secrets,
        "resources": [
            {
                "urn": resource.urn,
                "id": resource.resource_id,
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent or None,
                "inputs": redactor.value(resource.inputs),
                "outputs": redactor.value(resource.outputs),
                "dependencies": resource.dependencies,
                "provider": resource.provider,
                "ignoreChanges": resource.ignore_changes,
                "retainOnDelete": resource.retain_on_delete,
                "protect": resource.protect,
                "deleteBeforeReplace": resource.delete_before_replace,
                "replaceOnChanges": resource.replace_on_changes,
                "customTimeouts": resource.custom_timeouts,
            }
            for resource in plan.simulation.resources
        ],
        "outputs": redactor.value(plan.simulation.outputs),
    }


CLUSTER_TYPE = "hybrid-infra:index:KubernetesCluster"


def user_data(plan: Plan) -> dict[str, Any]:
    """Each node's cloud-config by node name, as every cluster registered them (secret)."""
    found: dict[str, Any] = {}
    for resource in plan.simulation.resources:
        if resource.type == CLUSTER_TYPE:
            registered = resource.outputs.get("userData")
            secret = isinstance(registered, Secret)
            for name, text in (registered.value if isinstance(registered, Secret) else registered or {}).items():
                found[name] = Secret(text) if secret else text
    return dict(sorted(found.items()))


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def manifests(plan: Plan, redactor: Redactor) -> dict[str, dict[str, Any]]:
    """One document per Kubernetes object the program creates, by file name.

    A Helm release is rendered by the provider at deployment time; its document says what will be
    installed: chart, repository, version, namespace and values, and its lock state (a locked chart
    is the local archive ``pulumi up`` checks against the lock file).
    """
    lock_states = {artifact.resource: artifact.lock for artifact in plan.artifacts if artifact.kind == "chart"}
    found = {}
    for resource in plan.simulation.resources:
        if not resource.type.startswith("kubernetes:") or not resource.custom:
            continue
        inputs = redactor.value(resource.inputs)
        if resource.type == HELM_RELEASE:
            document = {
                "helmRelease": {
                    "name": inputs.get("name", resource.name),
                    "namespace": inputs.get("namespace", "default"),
                    "chart": inputs["chart"],
                    "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
                    "version": inputs.get("version"),
                    "values": inputs.get("values") or {},
                    "lock": lock_states.get(resource.name, UNLOCKED),
                }
            }
            kind, namespace, name = "helmrelease", document["helmRelease"]["namespace"], document["helmRelease"]["name"]
        else:
            document = {key: value for key, value in inputs.items() if value is not None}
            metadata = document.get("metadata") or {}
            kind = str(document.get("kind", resource.type.rsplit(":", 1)[-1])).lower()
            namespace, name = metadata.get("namespace", "cluster"), metadata.get("name", resource.name)
        found[f"{kind}-{namespace}-{name}.yaml"] = document
    return dict(sorted(found.items()))


def pinned_manifests(plan: Plan) -> list[dict[str, Any]]:
    """Release manifests the program registered from (or, offline, only recorded as pinned sources)."""
    return [
        resource.outputs["operatorManifest"]
        for resource in plan.simulation.resources
        if not resource.custom and isinstance(resource.outputs.get("operatorManifest"), dict)
    ]


def manifest_lock(plan: Plan, source: dict[str, Any]) -> str:
    """The lock state of a release manifest the plan records (``pinned_manifests``)."""
    for artifact in plan.artifacts:
        if artifact.kind == "manifest" and (artifact.name, artifact.version, artifact.url, artifact.file) == (
            source["component"], source["version"], source.get("url"), source.get("file")
        ):
            return artifact.lock
    return UNLOCKED


def plan_summary(plan: Plan, redactor: Redactor) -> dict[str, Any]:
    """The plan at a glance (see :mod:`.report`), secrets shown as ``redactor`` shows them."""
    outputs = redactor.value(plan.simulation.outputs)
    artifacts = [artifact.facts() for artifact in sorted(plan.artifacts, key=lambda artifact: artifact.key)]
    return summary(
        plan.stack, plan.spec, outputs, len(plan.simulation.resources), plan.time_to_ready.facts(), artifacts
    )


def _replace_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir()
    return path


class OutputNotAPlan(Exception):
    def __init__(self, out: Path):
        super().__init__(f"{out} holds files but no plan.json; give --out an empty directory or an earlier plan's")


def check_output(out: Path) -> None:
    """A plan replaces nodes/ and manifests/ under ``out``: only where an earlier plan wrote them."""
    if out.is_dir() and any(out.iterdir()) and not (out / "plan.json").is_file():
        raise OutputNotAPlan(out)


def write_plan(plan: Plan, out: Path, show_secrets: bool) -> list[Path]:
    """Write plan.json, report.md, nodes/*.user-data and manifests/*.yaml under ``out``, replacing an earlier plan's.

    Rendering the plan makes as many objects again as the run did: ``hybrid-infra plan`` writes it on
    the offline runtime too (:data:`hybrid_infra.offline.simulate.offline_runtime`), so that no
    collection walks the run's heap meanwhile."""
    check_output(out)
    redactor = Redactor(plan.simulation, show_secrets, plan.config.secret_values)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "plan.json"]
    written[0].write_text(json.dumps(plan_document(plan, redactor), indent=2, sort_keys=True) + "\n")
    written.append(out / "report.md")
    written[-1].write_text(render_report(plan_summary(plan, redactor)))
    nodes_dir = _replace_dir(out / "nodes")
    for name, text in user_data(plan).items():
        path = nodes_dir / f"{name}.user-data"
        path.write_text(redactor.text(text))
        written.append(path)
    manifests_dir = _replace_dir(out / "manifests")
    for name, document in manifests(plan, redactor).items():
        path = manifests_dir / name
        path.write_text(yamltext.dump(document, sort_keys=True))
        written.append(path)
    for source in pinned_manifests(plan):
        if not source["expanded"]:
            # Offline, a URL source is not fetched: the plan names what `pulumi up` will fetch, and
            # the digest it must have there.
            path = manifests_dir / f"operator-{source['component']}.pinned.yaml"
            document = {"pinnedManifest": source, "lock": manifest_lock(plan, source)}
            path.write_text(yamltext.dump(document, sort_keys=True))
            written.append(path)
    return written


__all__ = [
    "OutputNotAPlan",
    "check_output",
    "Plan",
    "Redactor",
    "StackNotFound",
    "available_stacks",
    "load_stack",
    "manifests",
    "plan_document",
    "plan_summary",
    "run_plan",
    "stack_file",
    "user_data",
    "write_plan",
]
