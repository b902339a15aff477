"""The bench's floor registers exactly what the plan recorded: the same resources with the same inputs."""

from __future__ import annotations

import json

import pytest
import yaml

from benchmarks.floor import record, replay
from benchmarks.scaling import STACK_FILE, discover, scaled
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.offline.simulate import _mark
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.topology import node_groups
from tests.conftest import STACKS


def test_the_floor_registers_the_resources_and_inputs_the_plan_recorded(tmp_path):
    summary = record(STACKS, "dev", tmp_path / "recording.json")
    monitor = replay(json.loads((tmp_path / "recording.json").read_text()))
    # The mock monitor qualifies a child's type by its parent's last one: the type is what follows it.
    floor = {
        (urn.split("::")[2].split("$")[-1], urn.split("::")[3]): registration.state
        for urn, registration in monitor.resources.items()
    }
    plan = {(resource.type, resource.name): resource.inputs for resource in run_plan(STACKS, "dev").simulation.resources}
    assert summary["resources"] == len(plan) == len(floor)
    assert floor.keys() == plan.keys()
    assert [key for key, inputs in plan.items() if _mark(floor[key]) != inputs] == []
    assert summary["criticalPath"]["target"] == "KubeVirt Available"


@pytest.mark.parametrize("stack", discover(STACKS))
@pytest.mark.parametrize("workers", [10, 1000])
def test_the_bench_scales_every_stack_to_a_valid_one(stack, workers):
    """Every platform is measured up to 1000 workers: the scaled stack passes every check."""
    document = scaled(yaml.safe_load((STACKS / STACK_FILE.format(stack=stack)).read_text()), workers)
    config = document["config"]
    spec = parse_stack_config({key: _stand_in(value) for key, value in config.items()})
    assert sum(group.count for group in node_groups(spec.cluster)) == 3 + workers


def _stand_in(value):
    """An encrypted value as the plan reads it: some text."""
    if isinstance(value, dict):
        return "a-secret" if set(value) == {"secure"} else {key: _stand_in(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stand_in(item) for item in value]
    return value
