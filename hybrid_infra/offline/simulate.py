"""Run a Pulumi program in-process on the simulated cloud and record every resource.

Each run gets its own thread (so Pulumi's context variables start empty) and an event loop whose
executor has a single worker: resource registrations then reach the cloud in one order, and the
same stack always gives the same addresses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from ..addons.manifests import FETCH_MANIFESTS
from ..config.stack import StackSpec
from .cloud import SimulatedCloud

PROJECT = "hybrid-infra"
DYNAMIC_PROVIDER_INPUT = "__provider"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Secret:
    """A value Pulumi treats as secret."""

    value: Any


class Unknown:
    """A value not known until the resource exists (preview)."""

    def __repr__(self) -> str:
        return "Unknown()"


UNKNOWN = Unknown()


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    provider: str | None = None
    """URN of the explicit provider resource, if any."""
    ignore_changes: list[str] = field(default_factory=list)
    """Inputs whose later changes Pulumi ignores (they matter only when the resource is created)."""
    secret_outputs: list[str] = field(default_factory=list)
    """Outputs the provider itself declares secret (keys, tokens): where secret values originate."""
    resource_id: str | None = None


@dataclass
class Simulation:
    stack: str
    preview: bool
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Resource]:
        return [resource for resource in self.resources if resource.type == type_]


def _mark(value: Any) -> Any:
    """Turn the SDK's wire forms into plain data with :class:`Secret` and :class:`Unknown` markers."""
    if rpc.is_rpc_secret(value):
        return Secret(_mark(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {key: _mark(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark(item) for item in value]
    if isinstance(value, pulumi.Resource):
        return f"[resource {type(value).__name__}]"
    return value


class RecordingMonitor(MockMonitor):
    def __init__(self, cloud: SimulatedCloud, simulation: Simulation):
        super().__init__(cloud)
        self.simulation = simulation

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine does: a child's type is qualified by its parent's whole qualified type
        # (Pulumi's mock monitor keeps only the last one), so URNs match those of `pulumi up`.
        parent_type = parent.split("::")[2] if parent else ""
        if parent_type and parent_type != ROOT_STACK_TYPE:
            type_ = parent_type + "$" + type_
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request):  # noqa: N802 (the monitor's gRPC method name)
        response = super().RegisterResource(request)
        if request.type == ROOT_STACK_TYPE:
            return response
        raw_inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        if DYNAMIC_PROVIDER_INPUT in raw_inputs:
            # A pickled provider: opaque bytes that say nothing a reviewer can read.
            raw_inputs[DYNAMIC_PROVIDER_INPUT] = "[dynamic provider]"
        secret_keys = set(request.additionalSecretOutputs) | {
            key for key, value in raw_inputs.items() if rpc.is_rpc_secret(value)
        }
        state = self.resources[response.urn].state
        self.simulation.resources.append(
            Resource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=bool(request.custom),
                inputs=_mark(raw_inputs),
                outputs={
                    key: Secret(_mark(rpc.unwrap_rpc_secret(value))) if key in secret_keys else _mark(value)
                    for key, value in state.items()
                },
                dependencies=sorted(set(request.dependencies)),
                # A provider reference is "<urn>::<id>"; the URN alone names it.
                provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                ignore_changes=sorted(request.ignoreChanges),
                secret_outputs=sorted(request.additionalSecretOutputs),
                resource_id=response.id or None,
            )
        )
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802
        # A component's registered outputs (as ``register_outputs`` gives them) complete its record.
        for resource in self.simulation.resources:
            if resource.urn == request.urn and not resource.custom:
                resource.outputs = _mark(rpc.deserialize_properties(request.outputs, keep_unknowns=True))
        return super().RegisterResourceOutputs(request)


class _WarningCollector(logging.Handler):
    def __init__(self, simulation: Simulation):
        super().__init__(logging.WARNING)
        self.simulation = simulation

    def emit(self, record: logging.LogRecord) -> None:
        self.simulation.warnings.append(record.getMessage())


def simulate(
    program: Callable[[], Any],
    *,
    stack: str,
    config: dict[str, Any],
    secret_keys: list[str] | None = None,
    spec: StackSpec | None = None,
    preview: bool = False,
    project: str = PROJECT,
) -> Simulation:
    """Run ``program`` as ``pulumi up`` (or ``pulumi preview`` with ``preview=True``) would, offline.

    Nothing is fetched from the network: release manifests given by URL are recorded, not expanded.
    ``config`` maps full keys (``hybrid-infra:cluster``) to values; objects are passed as JSON, as the
    Pulumi CLI does; ``project`` is the one ``pulumi.Config()`` reads by default. Exceptions from the
    program are raised here.
    """
    simulation = Simulation(stack=stack, preview=preview)
    failure: list[BaseException] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        asyncio.set_event_loop(loop)
        FETCH_MANIFESTS.set(False)
        try:
            cloud = SimulatedCloud(stack, spec, preview)
            pulumi.runtime.set_all_config(
                {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()},
                secret_keys or [],
            )
            logger = logging.Logger(f"simulate-{stack}")
            logger.addHandler(_WarningCollector(simulation))
            pulumi.runtime.set_mocks(
                cloud, project, stack, preview, logger=logger, monitor=RecordingMonitor(cloud, simulation)
            )
            _sync_await(run_pulumi_func(program))
            root = pulumi.runtime.get_root_resource()
            assert isinstance(root, pulumi.runtime.stack.Stack), "run_pulumi_func makes the root stack"
            for key, value in sorted(root.outputs.items()):
                simulation.outputs[key] = _resolve(pulumi.Output.from_input(value))
        except BaseException as error:  # re-raised in the caller's thread
            failure.append(error)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"simulate-{stack}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    simulation.resources.sort(key=lambda resource: resource.urn)
    return simulation


def _resolve(output: pulumi.Output) -> Any:
    known = _sync_await(output.is_known())
    if not known:
        return UNKNOWN
    value = _mark(_sync_await(output.future()))
    return Secret(value) if _sync_await(output.is_secret()) else value
