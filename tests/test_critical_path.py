"""Time to a ready platform: the longest chain of waits the plan records, weighted by the durations table."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import hybrid_infra
from hybrid_infra.offline.critical_path import (
    DURATIONS_FILE,
    LAST_TARGET,
    READY_TARGET,
    Duration,
    DurationTable,
    critical_path,
    default_table,
)
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.offline.simulate import Resource
from tests.conftest import ROOT, STACKS, write_stack

TABLE = DurationTable(
    [
        Duration("slow:*", 100, "slow", "test"),
        Duration("component:*", 0, "nothing", "test"),
        Duration("*", 1, "quick", "test"),
    ]
)


def resource(name: str, type_: str = "quick:index:Thing", *, after=(), parent="", provider=None, custom=True) -> Resource:
    return Resource(
        urn=f"urn:{name}",
        type=type_,
        name=name,
        parent=f"urn:{parent}" if parent else "",
        custom=custom,
        inputs={},
        outputs={},
        dependencies=[f"urn:{other}" for other in after],
        provider=f"urn:{provider}" if provider else None,
    )


def names(path) -> list[str]:
    return [step.resource.name for step in path.steps]


def test_the_longest_chain_by_duration_not_by_count():
    resources = [
        resource("key"),
        resource("a", after=["key"]),
        resource("b", after=["a"]),
        resource("c", after=["b"]),
        resource("vm", "slow:index:Vm", after=["key"]),
        resource("end", after=["c", "vm"]),
    ]
    path = critical_path(resources, TABLE)
    assert names(path) == ["key", "vm", "end"]
    assert path.seconds == 102 and path.target == LAST_TARGET


def test_parents_and_providers_are_waited_for_and_components_create_nothing():
    resources = [
        resource("gate", "slow:index:Gate"),
        resource("provider", "pulumi:providers:kubernetes", after=["gate"]),
        resource("addon", "component:index:Addon", custom=False, after=["gate"]),
        resource("object", parent="addon", provider="provider"),
        resource("kubevirt", "kubernetes:kubevirt.io/v1:KubeVirt", after=["object"]),
        resource("later", "slow:index:Other", after=["kubevirt"]),
    ]
    path = critical_path(resources, TABLE)
    assert path.target == READY_TARGET
    assert names(path) == ["gate", "provider", "object", "kubevirt"]
    assert "a chain of 4 resources, about 1.7 min" in path.summary() and "slowest: gate 1.7 min" in path.summary()


def test_a_table_takes_the_first_matching_entry_and_ends_with_every_other_type():
    assert TABLE.of("slow:index:Vm").covers == "slow" and TABLE.of("anything").covers == "quick"
    with pytest.raises(ValueError, match="every other type"):
        DurationTable([Duration("slow:*", 1, "slow", "test")])


def test_the_project_table_says_what_each_entry_covers_and_where_it_comes_from():
    table = DurationTable.load(DURATIONS_FILE)
    assert all(entry.covers and entry.source for entry in table.entries)
    assert table.of("pulumi-python:dynamic:Resource").seconds > table.of("tls:index/privateKey:PrivateKey").seconds
    # Dynamic resources share a type: the cluster record asks once, the readiness gate waits for kubeadm init.
    record, gate = table.of("pulumi-python:dynamic:Resource", "dev-cluster-record"), table.of(
        "pulumi-python:dynamic:Resource", "dev-cluster-ready"
    )
    assert record.seconds < 60 < gate.seconds


def test_the_table_ships_with_the_package_as_package_data():
    package = Path(hybrid_infra.__file__).parent
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hybrid_infra"]
    assert DURATIONS_FILE.is_file() and DURATIONS_FILE.is_relative_to(package)
    assert any(fnmatch.fnmatchcase(DURATIONS_FILE.relative_to(package).as_posix(), pattern) for pattern in patterns)
    assert default_table().entries == DurationTable.load(DURATIONS_FILE).entries


def test_a_project_without_the_repositorys_files_gets_the_time_to_ready_too(tmp_path):
    # A project of its own, with hybrid-infra installed: its stacks, no benchmarks/ beside them.
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(STACKS / "Pulumi.dev.yaml", project / "stacks")
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "dev", "--out", "build/dev"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "time to KubeVirt Available: a chain of 12 resources, about 17.7 min" in result.stdout
    assert "Estimated time to KubeVirt Available" in (project / "build" / "dev" / "report.md").read_text()


def path_of(directory: Path, stack: str):
    return critical_path(run_plan(directory, stack).simulation.resources, DurationTable.load(DURATIONS_FILE))


def test_the_dev_platform_is_ready_after_the_gate_the_add_ons_and_kubevirt():
    path = path_of(STACKS, "dev")
    types = [step.resource.type for step in path.steps]
    assert path.target == READY_TARGET and types[-1] == "kubernetes:kubevirt.io/v1:KubeVirt"
    assert types.index("pulumi-python:dynamic:Resource") < types.index("kubernetes:helm.sh/v3:Release")
    assert [step.resource.name for step in path.steps if step.resource.type.endswith(":Instance")] == [
        "dev-cluster-control-plane-0"
    ]


def test_more_workers_do_not_lengthen_the_chain(tmp_path, dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] = 40
    dev_config["hybrid-infra:openstack"]["maxServerGroupMembers"] = 40  # the pool is one server group
    write_stack(tmp_path, "dev", dev_config)
    small, large = path_of(STACKS, "dev"), path_of(tmp_path, "dev")
    assert names(large) == names(small) and large.seconds == small.seconds


def test_without_virtualization_the_chain_ends_at_the_last_resource(tmp_path, dev_config):
    dev_config["hybrid-infra:cluster"]["pools"].pop()
    dev_config.pop("hybrid-infra:workloads")
    write_stack(tmp_path, "dev", dev_config)
    path = path_of(tmp_path, "dev")
    assert path.target == LAST_TARGET
    assert "kubernetes:kubevirt.io/v1:KubeVirt" not in [step.resource.type for step in path.steps]
