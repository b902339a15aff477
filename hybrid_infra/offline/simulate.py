"""Run a Pulumi program in-process on the simulated cloud and record every resource.

Each run gets its own thread (so Pulumi's context variables start empty) and an event loop whose
executor has a single worker: resource registrations then reach the cloud in one order, and the
same stack always gives the same addresses.

A run leaves the Pulumi SDK and Python's collector as they are: it runs on the same runtime as
Pulumi's own test recipe (``pulumi.runtime.set_mocks``). The offline runtime (:data:`offline_runtime`)
is an opt-in: ``hybrid-infra plan`` and the bench run on it, as may a test. It keeps costs out of a
run's way that buy nothing offline: Python's cyclic collector, whose full collections would walk the
whole ever-growing heap of Outputs, the stack trace the SDK captures at every registration for the
engine's diagnostics, which no simulated engine reads, the work of every property Output no one
reads (:mod:`hybrid_infra.offline.lazy`) and of provider modules no one uses
(:mod:`hybrid_infra.offline.provider_modules`). With the collector off, it also asks for unknowns in
a way that leaves no reference cycles behind (:mod:`hybrid_infra.offline.unknowns`). What a run
records and a plan writes is the same, byte for byte, either way (``tests/test_offline_differential.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.runtime.resource
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.rpc_manager import RPCManager
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from ..collector import pause as collector_pause
from ..stack import StackSpec
from . import lazy, provider_modules, unknowns
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
    retain_on_delete: bool = False
    """Pulumi leaves the object in the cloud when it deletes the resource (destroy, replacement)."""
    protect: bool = False
    """Pulumi refuses to delete the resource until the option is lifted."""
    delete_before_replace: bool = False
    """A replacement deletes the old object before it creates the new one."""
    replace_on_changes: list[str] = field(default_factory=list)
    """Inputs whose change replaces the resource, beside those its provider replaces it for."""
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    """How long Pulumi waits for a create, update or delete, where the program says."""
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


class _InputsSeen(Mocks):
    """Passes every request on to the cloud and keeps the inputs the monitor decoded for it (per
    thread, where the monitor handles the request), so the recorder reads them instead of decoding
    the request a second time."""

    def __init__(self, cloud: SimulatedCloud):
        self.cloud = cloud
        self._seen = threading.local()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self._seen.inputs = args.inputs
        return self.cloud.new_resource(args)

    def take(self) -> dict[str, Any] | None:
        """The inputs of the request this thread handled last, once."""
        inputs, self._seen.inputs = getattr(self._seen, "inputs", None), None
        return inputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return self.cloud.call(args)


class RecordingMonitor(MockMonitor):
    """Pulumi's mock monitor, with the engine's URNs, recording every resource as the cloud answered it.

    The mock monitor decodes a request's inputs for the cloud; the record reuses them. They keep
    unknowns as the engine would: a preview decodes unknown values as such, and a deployment has none.
    """

    mocks: _InputsSeen

    def __init__(self, cloud: SimulatedCloud, simulation: Simulation):
        super().__init__(_InputsSeen(cloud))
        self.simulation = simulation
        self._recorded: dict[str, Resource] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine does: a child's type is qualified by its parent's whole qualified type
        # (Pulumi's mock monitor keeps only the last one), so URNs match those of `pulumi up`.
        parent_type = parent.split("::")[2] if parent else ""
        if parent_type and parent_type != ROOT_STACK_TYPE:
            type_ = parent_type + "$" + type_
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the monitor's gRPC method name)
        self.mocks.take()
        response = super().RegisterResource(request)
        if request.type == ROOT_STACK_TYPE:
            return response
        raw_inputs = self.mocks.take()
        if raw_inputs is None:
            # A mock monitor that no longer hands the cloud this request's inputs: decode them here.
            raw_inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        secret_keys = set(request.additionalSecretOutputs) | {
            key for key, value in raw_inputs.items() if rpc.is_rpc_secret(value)
        }
        inputs = _mark(raw_inputs)
        if DYNAMIC_PROVIDER_INPUT in inputs:
            # A pickled provider: opaque bytes that say nothing a reviewer can read.
            inputs[DYNAMIC_PROVIDER_INPUT] = "[dynamic provider]"
        state = self.resources[response.urn].state
        resource = Resource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            inputs=inputs,
            outputs={
                key: Secret(_mark(rpc.unwrap_rpc_secret(value))) if key in secret_keys else _mark(value)
                for key, value in state.items()
            },
            dependencies=sorted(set(request.dependencies)),
            # A provider reference is "<urn>::<id>"; the URN alone names it.
            provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
            ignore_changes=sorted(request.ignoreChanges),
            retain_on_delete=bool(request.retainOnDelete),
            protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace),
            replace_on_changes=sorted(request.replaceOnChanges),
            custom_timeouts={
                key: value
                for key in ("create", "update", "delete")
                if (value := getattr(request.customTimeouts, key))
            },
            secret_outputs=sorted(request.additionalSecretOutputs),
            resource_id=response.id or None,
        )
        self.simulation.resources.append(resource)
        self._recorded[resource.urn] = resource
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        # A component's registered outputs (as ``register_outputs`` gives them) complete its record.
        resource = self._recorded.get(request.urn)
        if resource is not None and not resource.custom:
            resource.outputs = _mark(rpc.deserialize_properties(request.outputs, keep_unknowns=True))
        return super().RegisterResourceOutputs(request)


STACK_TRACE_CAPTURE = "_get_stack_trace"
"""The function of ``pulumi.runtime.resource`` every registration calls to capture its stack trace."""


def _no_stack_trace() -> source_pb2.StackTrace:
    # What the SDK itself sends when it finds no frame of the program.
    return source_pb2.StackTrace()


class _OfflineRuntime:
    """The Pulumi SDK and the collector tuned for offline runs, while a block lasts; as before after.

    Nothing is changed until asked: ``with offline_runtime():`` turns the runtime on for the block
    (``hybrid-infra plan`` for the run and the files, the bench, a test that opts in), and
    ``with offline_runtime.each_run():`` for each :func:`simulate` run started inside the block, while
    that run lasts (the project's test suite, for its session: ``tests/conftest.py``).

    The collector: paused (:func:`hybrid_infra.collector.pause`) until the block ends. A run's
    objects live until it ends, and its garbage goes with reference counting; the collector runs
    again after, with every object in its oldest generation.
    Stack traces: the SDK walks and converts the whole Python stack at every registration (for the
    engine's diagnostics), which the mock monitor drops.
    Property Outputs: each resource property's Output starts when the program reads it
    (:mod:`hybrid_infra.offline.lazy`), not at once for every property a class declares.
    Unknowns: the SDK's check for them leaves a reference cycle per call, which only the collector
    would free; the runner's (:mod:`hybrid_infra.offline.unknowns`) leaves none.
    Provider modules: a provider SDK's subpackages first imported inside the block load only the
    modules the program uses (:mod:`hybrid_infra.offline.provider_modules`).
    All are process-wide: the first block to start changes them and the last to end restores them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._restore: Callable[[], None] = lambda: None
        self._each_run = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._runs == 0:
                self._restore = self._tune()
            self._runs += 1
        try:
            yield
        finally:
            with self._lock:
                self._runs -= 1
                if self._runs == 0:
                    self._restore()

    @contextlib.contextmanager
    def each_run(self, on: bool = True) -> Iterator[None]:
        """Inside, each :func:`simulate` run goes on the offline runtime while it lasts (``on``), or
        does not (``on=False``, as outside any such block); the code between runs sees the SDK as it
        ships. A block of ``offline_runtime()`` around a run still applies to it."""
        was, self._each_run = self._each_run, on
        try:
            yield
        finally:
            self._each_run = was

    def for_run(self) -> contextlib.AbstractContextManager[None]:
        """What a :func:`simulate` run enters: the runtime inside :meth:`each_run`, nothing otherwise."""
        return self() if self._each_run else contextlib.nullcontext()

    @staticmethod
    def _tune() -> Callable[[], None]:
        candidates = (
            (
                pulumi.runtime.resource,
                STACK_TRACE_CAPTURE,
                _no_stack_trace,
                callable(getattr(pulumi.runtime.resource, STACK_TRACE_CAPTURE, None)),
            ),
            (rpc, lazy.SDK_FUNCTION, lazy.transfer_properties, lazy.sdk_fits()),
            (rpc, unknowns.SDK_FUNCTION, unknowns.contains_unknowns, unknowns.sdk_fits()),
        )
        tuned = contextlib.ExitStack()  # undone last in, first out
        tuned.enter_context(collector_pause())
        for module, name, replacement, fits in candidates:
            if fits:
                tuned.callback(setattr, module, name, getattr(module, name))
                setattr(module, name, replacement)
        provider_modules.install()
        tuned.callback(provider_modules.uninstall)
        return tuned.close


offline_runtime = _OfflineRuntime()
"""The offline runtime, off until asked: ``with offline_runtime():`` for a block,
``with offline_runtime.each_run():`` for each :func:`simulate` run in a block (see :class:`_OfflineRuntime`)."""


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
    cluster_exists: bool = False,
    answers: Callable[[SimulatedCloud], None] | None = None,
) -> Simulation:
    """Run ``program`` as ``pulumi up`` (or ``pulumi preview`` with ``preview=True``) would, offline.

    Nothing is fetched from the network: release manifests given by URL are recorded, not expanded.
    ``config`` maps full keys (``hybrid-infra:cluster``) to values; objects are passed as JSON, as the
    Pulumi CLI does; ``project`` is the one ``pulumi.Config()`` reads by default. ``cluster_exists``:
    the cluster records say the cluster has answered (a later ``pulumi up`` of a running cluster).
    ``answers`` adds the test's own answers to the run's :class:`SimulatedCloud` before the program
    runs (``cloud.answer_call``, ``cloud.answer_resource``). Exceptions from the program are raised here.

    The run leaves the Pulumi SDK and Python's collector as they are, unless the caller opts in to
    the offline runtime (``with offline_runtime():`` around it, or ``offline_runtime.each_run()``):
    the same records either way, sooner and with less memory on it.
    """
    simulation = Simulation(stack=stack, preview=preview)
    failure: list[BaseException] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        asyncio.set_event_loop(loop)
        try:
            # The run's own Outputs and calls: the SDK's defaults are shared by every thread, and a
            # failed registration leaves its Outputs there, for the next run to await on a closed loop.
            SETTINGS.outputs = set()
            SETTINGS.rpc_manager = RPCManager()
            cloud = SimulatedCloud(stack, spec, preview, cluster_exists=cluster_exists)
            if answers is not None:
                answers(cloud)
            pulumi.runtime.set_all_config(
                {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()},
                secret_keys or [],
            )
            # Warnings and errors only: at any lower level every debug line the SDK sends (one per
            # registration and more) would become a log record for the handler to drop.
            logger = logging.Logger(f"simulate-{stack}", logging.WARNING)
            logger.addHandler(_WarningCollector(simulation))
            pulumi.runtime.set_mocks(
                cloud, project, stack, preview, logger=logger, monitor=RecordingMonitor(cloud, simulation)
            )
            _sync_await(run_pulumi_func(program))
            root = pulumi.runtime.get_root_resource()
            assert isinstance(root, pulumi.runtime.stack.Stack), "run_pulumi_func makes the root stack"
            for key, value in sorted(root.outputs.items()):
                simulation.outputs[key] = _resolve(value)
        except BaseException as error:  # re-raised in the caller's thread
            failure.append(error)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"simulate-{stack}")
    with offline_runtime.for_run():
        thread.start()
        thread.join()
    if failure:
        raise failure[0]
    simulation.resources.sort(key=lambda resource: resource.urn)
    return simulation


def _resolve(value: Any) -> Any:
    """A stack output's value, with Secret and Unknown markers.

    An Output of plain data is awaited as it is: ``Output.from_input`` would first lift every item of
    a list of a thousand nodes, and every value in them, into an Output of its own. Only a value that
    holds Outputs itself is lifted, as the SDK would.
    """
    output = value if isinstance(value, pulumi.Output) else pulumi.Output.from_input(value)
    if not _sync_await(output.is_known()):
        return UNKNOWN
    resolved = _sync_await(output.future())
    if _holds_outputs(resolved):
        output = pulumi.Output.from_input(output)
        if not _sync_await(output.is_known()):
            return UNKNOWN
        resolved = _sync_await(output.future())
    marked = _mark(resolved)
    return Secret(marked) if _sync_await(output.is_secret()) else marked


def _holds_outputs(value: Any) -> bool:
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, dict):
        return any(_holds_outputs(key) or _holds_outputs(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_outputs(item) for item in value)
    return False
