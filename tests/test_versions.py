"""Every version hybrid-infra pins: documented with its source, and the default chosen by the rule
docs/versions.md states. End of life and support are judged against a fixed day, never the clock."""

from __future__ import annotations

import ast
import datetime
import importlib
import re
from pathlib import Path

import pytest

from hybrid_infra import platforms
from hybrid_infra.config.addons import ADDON_PINS
from hybrid_infra.config.cluster import CLUSTER_PINS
from hybrid_infra.config.fields import DEFAULT_KUBERNETES_VERSION, MAX_KUBERNETES, MIN_KUBERNETES
from hybrid_infra.config.versions import END_OF_LIFE, Pin, end_of_life_warning, unsupported_warnings
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.stack import parse_stack_config
from tests.conftest import ROOT, load_dev_config, write_stack

DOC = (ROOT / "docs" / "versions.md").read_text()
TODAY = datetime.date(2026, 12, 7)
MINORS = [f"{MIN_KUBERNETES[0]}.{minor}" for minor in range(MIN_KUBERNETES[1], MAX_KUBERNETES[1] + 1)]
# A version, or an image reference with a version tag.
VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?$")
IMAGE = re.compile(r"^[a-z0-9.-]+(/[a-z0-9._-]+)+:v?\d+(\.\d+)+$")


def platform_pins() -> dict[str, dict[str, Pin]]:
    return {name: importlib.import_module(f"hybrid_infra.platforms.{name}.config").PINS for name in platforms.names()}


def every_pin() -> list[Pin]:
    return [*CLUSTER_PINS.values(), *ADDON_PINS.values(), *(p for pins in platform_pins().values() for p in pins.values())]


def source_pins() -> list[tuple[str, str]]:
    """(where, value) of every version a module of hybrid_infra/ pins: a string that is a version and
    the value of an upper-case constant, or an image reference with a version tag anywhere."""
    found = []
    for path in sorted((ROOT / "hybrid_infra").rglob("*.py")):
        tree = ast.parse(path.read_text())
        constants = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name) and target.id.isupper()
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and id(node.value) in constants and node.value is not None:
                for leaf in ast.walk(node.value):
                    if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str) and VERSION.match(leaf.value):
                        found.append((f"{path.relative_to(ROOT)}:{leaf.lineno}", leaf.value))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and IMAGE.match(node.value):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
    return found


def test_the_scan_finds_the_pins_it_must():
    values = {value for _, value in source_pins()}
    assert {DEFAULT_KUBERNETES_VERSION, "v1.9.0", "2.3", "3.10.2", "docker.io/library/ubuntu:24.04"} <= values
    assert {pin.version for pin in every_pin()} <= values | {CLUSTER_PINS["kubeVip"].version}


@pytest.mark.parametrize(("where", "value"), source_pins(), ids=lambda item: str(item))
def test_every_version_pinned_in_the_code_is_in_docs_versions(where, value):
    assert re.search(rf"(?<![\w.]){re.escape(value)}(?![\w]|\.\d)", DOC), f"{where}: {value} is not in docs/versions.md"


@pytest.mark.parametrize("pin", every_pin(), ids=lambda pin: pin.component)
def test_every_pin_is_a_row_of_the_table_with_its_upstream_source(pin):
    supports = f"{pin.kubernetes[0]} to {pin.kubernetes[1]}" if pin.kubernetes else None
    # The source's repository and the tag (or commit) read.
    upstream = " ".join(pin.source.replace(",", " ").split()[:2])
    rows = [line for line in DOC.splitlines() if line.startswith("|") and pin.version in line]
    assert any(
        (supports in row if supports else "no range stated" in row or "every upstream-supported minor" in row)
        and upstream in row
        for row in rows
    ), f"{pin.component} {pin.version}: no row with {supports or 'no range'} and {upstream}"


def test_the_default_is_the_newest_patch_of_the_newest_minor_every_pin_supports():
    supported = [minor for minor in MINORS if all(pin.supports(f"{minor}.0") for pin in every_pin())]
    assert DEFAULT_KUBERNETES_VERSION.rsplit(".", 1)[0] == supported[-1]
    assert not unsupported_warnings(DEFAULT_KUBERNETES_VERSION, every_pin())
    assert end_of_life_warning(DEFAULT_KUBERNETES_VERSION, TODAY) is None


def test_every_accepted_minor_has_a_row_and_every_dated_minor_is_accepted():
    for minor in MINORS:
        assert re.search(rf"^\| {re.escape(minor)} \| v{re.escape(minor)}\.\d+ \|", DOC, re.M), minor
    assert set(END_OF_LIFE) <= set(MINORS)
    for minor, day in END_OF_LIFE.items():
        assert re.search(rf"^\| {re.escape(minor)} \|.*\| {day.isoformat()} \|$", DOC, re.M), minor


def test_end_of_life_is_judged_against_the_day_given():
    warning = end_of_life_warning("1.34.4", TODAY)
    assert warning is not None and warning.startswith("cluster.kubernetesVersion: 1.34.4 is past its end of life")
    assert "2026-10-27" in warning and "upstream patches 1.35, 1.36, 1.37" in warning
    assert end_of_life_warning("1.35.8", TODAY) is None
    assert end_of_life_warning("1.35.8", datetime.date(2027, 2, 28)) is None
    assert end_of_life_warning("1.35.8", datetime.date(2027, 3, 1)) is not None
    assert end_of_life_warning("1.37.2", datetime.date(2030, 1, 1)) is None  # no date in the calendar yet


def test_a_minor_a_pin_does_not_list_gets_one_line_per_pin():
    lines = unsupported_warnings("1.37.2", every_pin())
    assert "cluster.kubernetesVersion: 1.37.2 is outside what KubeVirt v1.9.0 supports (1.34 to 1.36; docs/versions.md)" in lines
    assert not [line for line in lines if "EBS" in line or "kube-vip" in line]


def plan_at(tmp_path: Path, version: str):
    config = load_dev_config()
    config["hybrid-infra:cluster"]["kubernetesVersion"] = version
    write_stack(tmp_path, "dev", config)
    return run_plan(tmp_path, "dev")


@pytest.mark.parametrize("minor", MINORS)
def test_a_stack_plans_at_every_accepted_minor(tmp_path, minor):
    patch = re.search(rf"^\| {re.escape(minor)} \| v({re.escape(minor)}\.\d+) \|", DOC, re.M)
    assert patch
    result = plan_at(tmp_path, patch[1])
    assert result.spec.cluster.kubernetes_version == patch[1]
    ended = [line for line in result.simulation.warnings if "past its end of life" in line]
    # Time only moves forward: a minor that had ended on TODAY has ended on any later day.
    if END_OF_LIFE.get(minor, datetime.date.max) < TODAY:
        assert ended == [end_of_life_warning(patch[1], datetime.date.today())]


def test_the_dev_stack_follows_the_default_version():
    config = load_dev_config()
    assert "kubernetesVersion" not in config["hybrid-infra:cluster"]
    assert parse_stack_config(config).cluster.kubernetes_version == DEFAULT_KUBERNETES_VERSION


def test_the_tools_pin_the_default_kubernetes_and_the_nodes_containerd_line():
    """`make e2e` runs the kubeadm users get by default, and a containerd of the line nodes install."""
    kubernetes = (ROOT / "tools" / "kubernetes" / "go.mod").read_text()
    assert re.search(rf"^\s*k8s\.io/kubernetes v{re.escape(DEFAULT_KUBERNETES_VERSION)}\b", kubernetes, re.M)
    minor = DEFAULT_KUBERNETES_VERSION.split(".")[1]
    staging = re.findall(r"^\s*(k8s\.io/[\w-]+) => \1 (v\S+)$", kubernetes, re.M)
    assert staging and {version for _, version in staging} == {f"v0.{minor}.{DEFAULT_KUBERNETES_VERSION.split('.')[2]}"}
    containerd = (ROOT / "tools" / "containerd" / "go.mod").read_text()
    assert re.search(rf"github\.com/containerd/containerd/v2 v{re.escape(CLUSTER_PINS['containerd'].version)}\.\d+\b", containerd)
