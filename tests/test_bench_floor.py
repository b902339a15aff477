"""The bench's floor registers exactly what the plan recorded: the same resources with the same inputs."""

from __future__ import annotations

import json

from benchmarks.floor import record, replay
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.offline.simulate import _mark
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
