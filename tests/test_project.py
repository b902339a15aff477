"""Pulumi.yaml against the stacks, checked as the engine checks them before `pulumi up` runs the program.

The engine (pulumi/pulumi, pkg/workspace/config.go and sdk/go/common/workspace/project.go) refuses a
stack that lacks a project key declared without ``default`` or ``value`` ("Stack '<stack>' is missing
configuration value '<key>'"), and a value whose type differs from a declared ``type``; keys that are
not declared are passed through untouched.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, STACKS

PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
DECLARATION_KEYS = {"type", "items", "description", "secret", "default", "value"}
TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}


def declaration_problems(project: dict[str, Any]) -> list[str]:
    """What the engine's Project.Validate refuses in the ``config`` block."""
    problems = []
    for key, declared in (project.get("config") or {}).items():
        if not isinstance(declared, dict):
            continue  # shorthand: a plain default
        if set(declared) - DECLARATION_KEYS:
            problems.append(f"{key}: unknown attributes {sorted(set(declared) - DECLARATION_KEYS)}")
        if "default" in declared and "value" in declared:
            problems.append(f"{key}: both default and value")
        kind = declared.get("type")
        if kind is not None and kind not in TYPES:
            problems.append(f"{key}: unknown type {kind!r}")
        if kind == "array" and "items" not in declared:
            problems.append(f"{key}: an array declares no items type")
        if ":" in key and not key.startswith(f"{project['name']}:") and ({"type", "default"} & set(declared)):
            problems.append(f"{key}: keys of other namespaces may not declare a type or default")
        if kind and "default" in declared and not _of_type(declared["default"], kind):
            problems.append(f"{key}: default is not of type {kind}")
    return problems


def _of_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def stack_problems(project: dict[str, Any], stack: str, config: dict[str, Any]) -> list[str]:
    """What the engine's ValidateStackConfigAndApplyProjectConfig refuses for one stack."""
    problems = []
    for key, declared in (project.get("config") or {}).items():
        full = key if ":" in key else f"{project['name']}:{key}"
        declared = declared if isinstance(declared, dict) else {"default": declared}
        value = config.get(full, config.get(key))
        if value is None:
            if "default" not in declared and "value" not in declared:
                problems.append(f"Stack '{stack}' is missing configuration value '{key}'")
            continue
        if declared.get("secret") and not (isinstance(value, dict) and set(value) == {"secure"}):
            problems.append(f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret")
        kind = declared.get("type")
        if kind and not (isinstance(value, dict) and set(value) == {"secure"}) and not _of_type(value, kind):
            problems.append(f"Stack '{stack}' with configuration key '{key}' must be of type '{kind}'")
    return problems


def test_project_declarations_are_valid():
    assert declaration_problems(PROJECT) == []


@pytest.mark.parametrize("path", sorted(STACKS.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_every_stack_passes_the_engines_config_validation(path):
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    assert stack_problems(PROJECT, stack, yaml.safe_load(path.read_text())["config"]) == []


def test_no_platform_section_is_required_of_every_stack():
    # A stack of another platform sets only its own section: the engine must not refuse it.
    other = {"hybrid-infra:cluster": {"name": "x"}, "hybrid-infra:elsewhere": {}}
    assert stack_problems(PROJECT, "other", other) == []
    required_platform = {**PROJECT, "config": {**PROJECT["config"], "openstack": {"description": "no default"}}}
    assert stack_problems(required_platform, "other", other) == ["Stack 'other' is missing configuration value 'openstack'"]


def test_a_missing_platform_sdk_is_one_line_naming_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['pulumi_openstack'] = None\n"
        "from hybrid_infra.cli import main\n"
        f"sys.argv = ['hybrid-infra', 'plan', 'dev', '--stacks', {str(STACKS)!r}, '--out', {str(tmp_path / 'out')!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{STACKS}/Pulumi.dev.yaml: openstack: the platform's Pulumi SDK (pulumi_openstack) is not installed; "
        "install it with: pip install 'hybrid-infra[openstack]'"
    ]
    assert not (tmp_path / "out").exists()
