"""The floor a plan is measured against: the bare Pulumi SDK registering what the plan recorded.

``record`` runs a plan in-process and writes every resource it registered (type, name, parent,
custom or component, inputs, component outputs, dependencies, provider, ignored changes, secret
outputs) and the stack outputs to a JSON file, secrets marked. ``replay`` (this module run with
``python -m benchmarks.floor replay RECORDING``) registers exactly those resources with exactly those
inputs through the same Pulumi SDK, on the same runner layout (its own thread, a fresh event loop,
a one-worker executor), with mocks that echo inputs as outputs. It imports nothing of hybrid-infra
and leaves the SDK as it ships: the collector runs, stack traces are captured. What separates a
plan from its floor is then the program's own work: the components, the cloud-configs, the
simulated cloud, the recording, the files written.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SECRET = "$hybrid-infra:secret"
UNKNOWN = "$hybrid-infra:unknown"
PROJECT = "hybrid-infra"


# --- recording (imports hybrid-infra) ------------------------------------------------------


def _encode(value: Any) -> Any:
    from hybrid_infra.offline.simulate import Secret, Unknown

    if isinstance(value, Secret):
        return {SECRET: _encode(value.value)}
    if isinstance(value, Unknown):
        return {UNKNOWN: True}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def record(stacks_dir: Path, stack: str, path: Path) -> dict[str, Any]:
    """Run the plan of ``stack``, write what it registered to ``path``; returns the resource count and
    the plan's critical path (modelled with the package's durations table), for the bench's table."""
    from hybrid_infra.offline.plan import run_plan
    from hybrid_infra.offline.simulate import offline_runtime

    with offline_runtime():  # as `hybrid-infra plan` runs it: the same records, sooner
        plan = run_plan(stacks_dir, stack)
    simulation = plan.simulation
    resources = [
        {
            "urn": resource.urn,
            "type": resource.type,
            "name": resource.name,
            "parent": resource.parent or None,
            "custom": resource.custom,
            "inputs": _encode(resource.inputs),
            # A custom resource's outputs come from its provider: the echo mocks return its inputs.
            "outputs": None if resource.custom else _encode(resource.outputs),
            "dependencies": resource.dependencies,
            "provider": resource.provider,
            "ignoreChanges": resource.ignore_changes,
            "secretOutputs": resource.secret_outputs,
        }
        for resource in simulation.resources
    ]
    document = {"stack": stack, "resources": resources, "outputs": _encode(simulation.outputs)}
    path.write_text(json.dumps(document))
    chain = plan.time_to_ready
    return {
        "resources": len(resources),
        "criticalPath": {"target": chain.target, "steps": len(chain.steps), "seconds": chain.seconds},
    }


# --- replay (the bare SDK) -------------------------------------------------------------------


def _registration_order(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents, providers and dependencies before the resources that name them (as the program made them)."""
    by_urn = {resource["urn"]: resource for resource in resources}
    placed: set[str] = set()
    order: list[dict[str, Any]] = []

    def place(resource: dict[str, Any]) -> None:
        stack = [(resource, False)]
        while stack:
            current, expanded = stack.pop()
            urn = current["urn"]
            if urn in placed:
                continue
            if expanded:
                placed.add(urn)
                order.append(current)
                continue
            stack.append((current, True))
            before = [current["parent"], current["provider"], *current["dependencies"]]
            stack.extend((by_urn[u], False) for u in reversed(before) if u in by_urn and u not in placed)

    for resource in resources:
        place(resource)
    return order


def replay(recording: dict[str, Any]) -> Any:
    """Register the recorded resources on the bare SDK with echo mocks; returns the SDK's mock monitor,
    which holds every registration (the echoed inputs)."""
    import pulumi
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    class EchoMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            return (f"{args.name}-id" if args.custom else None), args.inputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            return args.args, []

    def decode(value: Any) -> Any:
        if isinstance(value, dict):
            if SECRET in value:
                return pulumi.Output.secret(decode(value[SECRET]))
            if UNKNOWN in value:
                return pulumi.Output.from_input(None)
            return {key: decode(item) for key, item in value.items()}
        if isinstance(value, list):
            return [decode(item) for item in value]
        return value

    def program() -> None:
        registered: dict[str, pulumi.Resource] = {}
        for resource in _registration_order(recording["resources"]):
            opts = pulumi.ResourceOptions(
                parent=registered.get(resource["parent"]),
                provider=registered.get(resource["provider"]),  # type: ignore[arg-type]
                depends_on=[registered[urn] for urn in resource["dependencies"] if urn in registered],
                ignore_changes=resource["ignoreChanges"] or None,
                additional_secret_outputs=resource["secretOutputs"] or None,
            )
            inputs = decode(resource["inputs"])
            kind = resource["type"]
            created: pulumi.Resource
            if kind.startswith("pulumi:providers:"):
                created = pulumi.ProviderResource(kind.removeprefix("pulumi:providers:"), resource["name"], inputs, opts)
            elif resource["custom"]:
                created = pulumi.CustomResource(kind, resource["name"], inputs, opts)
            else:
                component = pulumi.ComponentResource(kind, resource["name"], None, opts)
                component.register_outputs(decode(resource["outputs"] or {}))
                created = component
            registered[resource["urn"]] = created
        for key, value in recording["outputs"].items():
            pulumi.export(key, decode(value))

    failure: list[BaseException] = []
    monitor = MockMonitor(EchoMocks())

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        asyncio.set_event_loop(loop)
        try:
            pulumi.runtime.set_mocks(monitor.mocks, PROJECT, recording["stack"], False, monitor=monitor)
            _sync_await(run_pulumi_func(program))
        except BaseException as error:  # re-raised in the main thread
            failure.append(error)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="floor")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return monitor


def main() -> None:
    """``python -m benchmarks.floor record STACKS STACK RECORDING`` or ``replay RECORDING``.

    Both print one JSON line. ``replay`` reports how long reading the recording took (not the SDK's
    work: the bench takes it off the floor's time) and exits without interpreter teardown, as the
    plan command does.
    """
    command, *args = sys.argv[1:]
    if command == "record":
        stacks, stack, path = args
        print(json.dumps(record(Path(stacks), stack, Path(path))), flush=True)
        return
    started = time.perf_counter()
    recording = json.loads(Path(args[0]).read_text())
    loaded = time.perf_counter() - started
    registered = replay(recording).resources
    print(json.dumps({"resources": len(registered), "loadSeconds": loaded}), flush=True)
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
