"""Every stack's plan files against its golden files (``tests/platforms/golden.py`` says how to write them)."""

from __future__ import annotations

import difflib

import pytest

from tests.conftest import STACKS
from tests.platforms.golden import golden_dirs, golden_files, plan_files

GOLDEN = golden_dirs()


def test_every_stack_has_its_golden_files():
    assert set(GOLDEN) == {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml")}
    assert all(golden_files(folder) for folder in GOLDEN.values())


@pytest.mark.parametrize("stack", sorted(GOLDEN))
def test_plan_files_are_the_golden_ones(stack):
    expected, written = golden_files(GOLDEN[stack]), plan_files(stack)
    assert sorted(written) == sorted(expected), "files added or removed: run python -m tests.platforms.golden"
    changed = [
        "".join(difflib.unified_diff(expected[name].splitlines(True), written[name].splitlines(True), f"golden/{name}", name))
        for name in sorted(expected)
        if written[name] != expected[name]
    ]
    assert not changed, "\n".join(changed) + "\nif meant: python -m tests.platforms.golden " + stack
