"""The offline runtime changes how fast a plan runs, never what it writes: every stack's plan files,
as ``hybrid-infra plan`` writes them, are the same bytes with it on (as the command runs) and off (the
Pulumi SDK and the collector as they ship, as users' tests run by default)."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pulumi.runtime.resource
import pytest
from pulumi.runtime import rpc

from hybrid_infra.offline import plan as planner
from hybrid_infra.offline.plan import available_stacks, run_plan, write_plan
from hybrid_infra.offline.simulate import offline_runtime
from tests.conftest import STACKS

# What the offline runtime changes while it is on (hybrid_infra/offline/simulate.py).
MACHINERY = ["transfer_properties", "contains_unknowns", "_get_stack_trace", "collector paused", "provider modules"]


def machinery_on() -> list[str]:
    """Which of the offline runtime's changes are in place."""
    found = [
        name
        for module, name in ((rpc, "transfer_properties"), (rpc, "contains_unknowns"), (pulumi.runtime.resource, "_get_stack_trace"))
        if getattr(module, name).__module__ != module.__name__
    ]
    if not gc.isenabled():
        found.append("collector paused")
    if any(type(finder).__module__ == "hybrid_infra.offline.provider_modules" for finder in sys.meta_path):
        found.append("provider modules")
    return found


def written(stack: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[list[str]], dict[str, bytes]]:
    """The runtime the program saw, and every file the plan writes (secrets hidden, then shown), as bytes."""
    seen: list[list[str]] = []
    build = planner.build

    def observed(*args, **kwargs):
        seen.append(machinery_on())
        return build(*args, **kwargs)

    monkeypatch.setattr(planner, "build", observed)
    plan = run_plan(STACKS, stack)
    files: dict[str, bytes] = {}
    for show_secrets in (False, True):
        folder = out / ("shown" if show_secrets else "hidden")
        for path in write_plan(plan, folder, show_secrets):
            files[str(path.relative_to(out))] = path.read_bytes()
    monkeypatch.undo()
    return seen, files


@pytest.mark.parametrize("stack", available_stacks(STACKS))
def test_the_plan_files_are_the_same_bytes_with_the_offline_runtime_on_and_off(stack, tmp_path, monkeypatch):
    with offline_runtime.each_run(False):
        seen_off, off = written(stack, tmp_path / "off", monkeypatch)
    with offline_runtime():  # as `hybrid-infra plan` runs: the run and the files
        seen_on, on = written(stack, tmp_path / "on", monkeypatch)
    assert seen_off == [[]], "the run without the offline runtime had some of it"
    assert seen_on == [MACHINERY], "the run on the offline runtime lacked some of it"
    assert any(name.startswith("hidden/nodes/") for name in on) and any(name.startswith("hidden/manifests/") for name in on)
    assert sorted(off) == sorted(on)
    assert [name for name in sorted(on) if off[name] != on[name]] == []


def test_every_stack_is_compared():
    assert available_stacks(STACKS) == sorted(path.name.split(".")[1] for path in STACKS.glob("Pulumi.*.yaml"))
    assert {"dev", "prod", "aws"} <= set(available_stacks(STACKS))
