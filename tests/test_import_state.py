"""Importing hybrid-infra changes nothing in the interpreter: no call to the collector, nothing of the
Pulumi SDK or of the import system replaced. The offline runtime (:mod:`hybrid_infra.offline.simulate`)
changes them, and only while ``hybrid-infra plan``, the bench or a test that opts in runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

# A fresh interpreter: every function of the gc module that changes the collector records its calls
# before anything is imported; then the modules, then what the import left changed.
_IMPORT_AND_REPORT = textwrap.dedent(
    """
    import gc, importlib, json, sys

    calls = []
    CHANGING = ("disable", "enable", "freeze", "unfreeze", "collect", "set_threshold", "set_debug")

    def recording(name, original):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)
        return wrapper

    def ours(finders):
        return [repr(finder) for finder in finders if type(finder).__module__.startswith("hybrid_infra")]

    for name in CHANGING:
        setattr(gc, name, recording(name, getattr(gc, name)))
    before = {
        "enabled": gc.isenabled(), "threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(),
        "callbacks": len(gc.callbacks), "finders": ours(sys.meta_path),
    }
    for module in sys.argv[1:]:
        importlib.import_module(module)

    import pulumi.runtime.resource
    from pulumi.runtime import rpc

    # The SDK's functions the offline runtime replaces, each still the SDK's own.
    replaced = [
        f"{module.__name__}.{name}"
        for module, name in ((rpc, "transfer_properties"), (rpc, "contains_unknowns"), (pulumi.runtime.resource, "_get_stack_trace"))
        if getattr(module, name).__module__ != module.__name__
    ]
    after = {
        "enabled": gc.isenabled(), "threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(),
        "callbacks": len(gc.callbacks), "finders": ours(sys.meta_path),
    }
    print(json.dumps({"calls": calls, "replaced": replaced, "before": before, "after": after}))
    """
)


def api_modules() -> list[str]:
    """The public API, as the Makefile lists it for the docs: what programs, their tests and platform packages import."""
    listed = re.search(r"^API_MODULES := (.*?)(?<!\\)$", (ROOT / "Makefile").read_text(), re.S | re.M)
    assert listed, "Makefile: API_MODULES"
    return listed.group(1).replace("\\", " ").split()


def imported(*modules: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_AND_REPORT, *modules], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(result.stdout)


def test_importing_the_package_makes_no_call_to_the_collector():
    report = imported("hybrid_infra")
    assert report["calls"] == []
    assert report["after"] == report["before"]


@pytest.mark.parametrize("collecting", [True, False])
def test_the_collector_stays_as_the_program_set_it(collecting):
    script = (
        "import gc\n"
        f"{'gc.enable()' if collecting else 'gc.disable()'}\n"
        "import hybrid_infra, hybrid_infra.testing\n"
        "print(gc.isenabled(), gc.get_freeze_count())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.split() == [str(collecting), "0"]


def test_no_module_a_program_imports_changes_the_interpreter():
    modules = api_modules()
    assert "hybrid_infra.testing" in modules and "hybrid_infra.platforms.aws" in modules
    report = imported(*modules)
    assert report["calls"] == []
    assert report["replaced"] == []
    assert report["after"] == report["before"]
