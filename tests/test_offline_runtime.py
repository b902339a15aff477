"""The offline runner keeps the collector and the SDK's stack-trace capture out of a run, and restores both."""

from __future__ import annotations

import gc

import pulumi
import pulumi.runtime.resource
import pytest

from hybrid_infra.offline import simulate as runner
from hybrid_infra.offline.simulate import STACK_TRACE_CAPTURE, Secret, simulate


def test_the_sdk_captures_stack_traces_where_the_runner_turns_it_off():
    """Fails when the SDK renames or moves the function: the runner would silently stop skipping it."""
    capture = getattr(pulumi.runtime.resource, STACK_TRACE_CAPTURE, None)
    assert callable(capture), f"pulumi.runtime.resource.{STACK_TRACE_CAPTURE} is gone; find where the SDK captures it now"
    for registration in (pulumi.runtime.resource.register_resource, pulumi.runtime.resource.read_resource):
        assert STACK_TRACE_CAPTURE in registration.__code__.co_names, registration.__name__


def observe() -> dict[str, object]:
    return {
        "collecting": gc.isenabled(),
        "frozen": gc.get_freeze_count(),
        "capture": getattr(pulumi.runtime.resource, STACK_TRACE_CAPTURE),
    }


def test_a_run_goes_without_collector_and_stack_traces_and_restores_both():
    before = observe()
    assert before["collecting"] and before["capture"] is not runner._no_stack_trace
    seen: dict[str, object] = {}

    def program() -> None:
        seen.update(observe())
        pulumi.ComponentResource("test:index:Component", "component")

    result = simulate(program, stack="test", config={})
    assert [resource.name for resource in result.resources] == ["component"]
    assert seen["collecting"] is False and seen["frozen"] > 0
    assert seen["capture"] is runner._no_stack_trace
    assert observe() == before
    # What the run made waits in the oldest generation, not in the youngest for one long collection.
    assert len(gc.get_objects(generation=0)) < 1000


def test_a_failing_run_restores_both_too():
    before = observe()

    def program() -> None:
        raise RuntimeError("the program fails")

    with pytest.raises(RuntimeError, match="the program fails"):
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
