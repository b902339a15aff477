"""The offline runtime keeps the collector, the SDK's stack-trace capture, unread property Outputs and the
SDK's cyclic check for unknowns out of a run that opts in, and restores them all; a run that does not
opt in leaves them as they are."""

from __future__ import annotations

import gc
import logging

import pulumi
import pulumi.runtime.resource
import pytest
from pulumi.runtime import rpc

from hybrid_infra.offline import lazy, unknowns
from hybrid_infra.offline import simulate as runner
from hybrid_infra.offline.simulate import STACK_TRACE_CAPTURE, Secret, simulate


def test_the_sdk_captures_stack_traces_where_the_runner_turns_it_off():
    """Fails when the SDK renames or moves the function: the runner would silently stop skipping it."""
    capture = getattr(pulumi.runtime.resource, STACK_TRACE_CAPTURE, None)
    assert callable(capture), f"pulumi.runtime.resource.{STACK_TRACE_CAPTURE} is gone; find where the SDK captures it now"
    for registration in (pulumi.runtime.resource.register_resource, pulumi.runtime.resource.read_resource):
        assert STACK_TRACE_CAPTURE in registration.__code__.co_names, registration.__name__


def test_the_sdk_makes_property_outputs_where_the_runner_makes_them_lazily():
    """Fails when the SDK changes the function or the Output it mirrors: the runner would silently
    go back to the SDK's own (sdk_fits is False), or mirror a function that no longer exists."""
    assert lazy.sdk_fits(), "pulumi.runtime.rpc.transfer_properties or Output's _data moved; see hybrid_infra/offline/lazy.py"
    for registration in (pulumi.runtime.resource.register_resource, pulumi.runtime.resource.read_resource):
        assert lazy.SDK_FUNCTION in registration.__code__.co_names, registration.__name__


def observe() -> dict[str, object]:
    return {
        "collecting": gc.isenabled(),
        "frozen": gc.get_freeze_count(),
        "capture": getattr(pulumi.runtime.resource, STACK_TRACE_CAPTURE),
        "transfer": getattr(rpc, lazy.SDK_FUNCTION),
        "unknowns": getattr(rpc, unknowns.SDK_FUNCTION),
    }


def test_a_run_that_does_not_opt_in_leaves_the_sdk_and_the_collector_as_they_are():
    before = observe()
    assert before["collecting"] and before["capture"] is not runner._no_stack_trace
    seen: dict[str, object] = {}

    def program() -> None:
        seen.update(observe())
        pulumi.ComponentResource("test:index:Component", "component")

    with runner.offline_runtime.each_run(False):
        simulate(program, stack="test", config={})
    assert seen == before
    assert observe() == before


def test_each_run_opts_in_for_the_block_and_restores_the_choice_after():
    with runner.offline_runtime.each_run(False):
        with runner.offline_runtime.each_run():
            with runner.offline_runtime.for_run():
                assert observe()["capture"] is runner._no_stack_trace
        with runner.offline_runtime.for_run():
            assert observe()["capture"] is not runner._no_stack_trace


def test_a_run_goes_without_collector_and_stack_traces_and_restores_both():
    before = observe()
    assert before["collecting"] and before["capture"] is not runner._no_stack_trace
    assert before["transfer"] is not lazy.transfer_properties
    assert before["unknowns"] is not unknowns.contains_unknowns
    seen: dict[str, object] = {}

    def program() -> None:
        seen.update(observe())
        pulumi.ComponentResource("test:index:Component", "component")

    with runner.offline_runtime.each_run():
        result = simulate(program, stack="test", config={})
    assert [resource.name for resource in result.resources] == ["component"]
    assert seen["collecting"] is False and seen["frozen"] > 0
    assert seen["capture"] is runner._no_stack_trace
    assert seen["transfer"] is lazy.transfer_properties
    assert seen["unknowns"] is unknowns.contains_unknowns
    assert observe() == before
    # What the run made waits in the oldest generation, not in the youngest for one long collection.
    assert len(gc.get_objects(generation=0)) < 1000


def test_a_failing_run_restores_both_too():
    before = observe()

    def program() -> None:
        raise RuntimeError("the program fails")

    with runner.offline_runtime.each_run(), pytest.raises(RuntimeError, match="the program fails"):
        simulate(program, stack="test", config={})
    assert observe() == before


def test_nested_runs_restore_once_the_last_one_ends():
    before = observe()
    with runner.offline_runtime():
        with runner.offline_runtime():
            assert observe()["capture"] is runner._no_stack_trace
        assert observe()["capture"] is runner._no_stack_trace and not gc.isenabled()
    assert observe() == before


def test_stack_outputs_resolve_plain_and_nested_values():
    def program() -> None:
        pulumi.export("plain", pulumi.Output.from_input("n").apply(lambda name: [{"name": name, "index": 0}]))
        pulumi.export("nested", pulumi.Output.from_input("x").apply(lambda v: {"inner": pulumi.Output.secret(v)}))
        pulumi.export("raw", {"key": pulumi.Output.from_input(1)})
        pulumi.export("secret", pulumi.Output.secret("s"))

    result = simulate(program, stack="test", config={})
    assert result.outputs == {
        "nested": Secret({"inner": "x"}),
        "plain": [{"name": "n", "index": 0}],
        "raw": {"key": 1},
        "secret": Secret("s"),
    }


def test_the_recorder_reads_the_inputs_the_monitor_decoded_or_decodes_them_itself(monkeypatch):
    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Component", "component")
        pulumi.CustomResource(
            "test:index:Thing",
            "thing",
            {"plain": "value", "secret": pulumi.Output.secret("hidden"), "nested": {"list": [1, 2.5, True]}},
            pulumi.ResourceOptions(parent=parent),
        )

    def records():
        return [(r.type, r.name, r.inputs, r.outputs) for r in simulate(program, stack="test", config={}).resources]

    decoded_once = records()
    monkeypatch.setattr(runner._InputsSeen, "take", lambda self: None)
    assert records() == decoded_once
    thing = next(record for record in decoded_once if record[1] == "thing")
    assert thing[2] == {"plain": "value", "secret": Secret("hidden"), "nested": {"list": [1, 2.5, True]}}


class Server(pulumi.CustomResource):
    """A typed resource class as provider SDKs write them: every property declared, inputs and outputs."""

    def __init__(self, name: str, size: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None):
        props = {"size": size, "address": None, "image": None, "state": None}
        super().__init__("test:index:Server", name, props, opts)


def test_property_outputs_start_when_read_and_resolve_as_the_sdks_do():
    made: dict[str, Server] = {}

    def program() -> None:
        first = made["first"] = Server("first", size="large")
        second = made["second"] = Server("second", size=first.size.apply(lambda size: f"{size}-too"))
        pulumi.export("sizes", pulumi.Output.all(first.size, second.size))
        pulumi.export("secret", pulumi.Output.secret(first.image))

    with runner.offline_runtime.each_run(False):
        shipped = simulate(program, stack="test", config={})
    with runner.offline_runtime.each_run():
        result = simulate(program, stack="test", config={})
    assert result.outputs == shipped.outputs
    assert [(r.name, r.inputs, r.dependencies) for r in result.resources] == [
        (r.name, r.inputs, r.dependencies) for r in shipped.resources
    ]
    assert result.outputs["sizes"] == ["large", "large-too"]
    assert result.outputs["secret"] == Secret(None)
    second = next(resource for resource in result.resources if resource.name == "second")
    assert second.inputs["size"] == "large-too"
    assert "urn:pulumi:test::hybrid-infra::test:index:Server::first" in second.dependencies
    first = made["first"]
    assert isinstance(first.state, lazy.LazyOutput) and isinstance(first.state, pulumi.Output)
    # Read by the program: started. Never read: no task, nothing tracked.
    assert first.size.__dict__["_data_future"] is not None
    assert first.address.__dict__["_data_future"] is None and made["second"].state.__dict__["_data_future"] is None


def test_a_failed_registration_fails_the_outputs_read_from_it(monkeypatch):
    answer = runner.SimulatedCloud.new_resource

    def refusing(cloud, args):
        if args.name == "refused":
            raise RuntimeError("the cloud refuses")
        return answer(cloud, args)

    monkeypatch.setattr(runner.SimulatedCloud, "new_resource", refusing)

    def program() -> None:
        refused = Server("refused", size="large")
        Server("after", size=refused.address.apply(str))

    with pytest.raises(Exception, match="the cloud refuses"):
        simulate(program, stack="test", config={})
    assert observe()["transfer"] is not lazy.transfer_properties
    # The failed Outputs stay with the failed run: the next run does not await them.
    monkeypatch.undo()
    assert [r.name for r in simulate(program, stack="test", config={}).resources] == ["after", "refused"]


def test_the_programs_warnings_are_collected_and_its_debug_lines_make_no_log_record(monkeypatch):
    made: list[str] = []
    make_record = logging.Logger.makeRecord

    def counting(logger, *args, **kwargs):
        record = make_record(logger, *args, **kwargs)
        made.append(record.getMessage())
        return record

    monkeypatch.setattr(logging.Logger, "makeRecord", counting)

    def program() -> None:
        pulumi.log.debug("a line for the engine's debug channel")
        pulumi.log.warn("the program warns")
        pulumi.ComponentResource("test:index:Component", "component")

    result = simulate(program, stack="test", config={})
    assert result.warnings == ["the program warns"]
    assert "a line for the engine's debug channel" not in made
