"""Day 2: version rules before anything changes, and an offline diff against an earlier plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hybrid_infra.addons.upgrades import version_failures
from hybrid_infra.config.versions import VERSION_KEYS, change_problem, upgrade_problems
from tests.conftest import load_dev_config, write_stack

KUBERNETES = VERSION_KEYS[0]


@pytest.mark.parametrize(
    ("running", "asked", "allowed"),
    [
        ("1.34.2", "1.34.2", True),
        ("1.34.2", "1.34.5", True),
        ("1.34.2", "1.35.0", True),
        ("1.34.2", "1.35.3", True),
        ("1.34.2", "1.36.0", False),
        ("1.34.2", "1.34.1", False),
        ("1.34.2", "1.33.5", False),
        ("1.34.2", "2.0.0", False),
    ],
)
def test_kubernetes_upgrades_one_minor_at_a_time_and_never_down(running, asked, allowed):
    assert (change_problem(KUBERNETES, running, asked) is None) == allowed


def test_kubevirt_and_cdi_follow_the_same_rule():
    problems = upgrade_problems(
        {"kubevirtVersion": "v1.9.0", "cdiVersion": "v1.66.0"}, {"kubevirtVersion": "v1.11.0", "cdiVersion": "v1.65.0"}
    )
    assert [line.split(":")[0] for line in problems] == ["addons.kubevirt.version", "addons.cdi.version"]


def test_the_version_guard_refuses_a_bad_change_in_its_check():
    running = {"kubernetesVersion": "1.34.2", "kubevirtVersion": "v1.9.0", "preinstalled": False}
    assert version_failures({}, {"kubernetesVersion": "1.30.0"}) == []  # a new cluster
    assert version_failures(running, {**running, "kubernetesVersion": "1.35.0"}) == []
    (failure,) = version_failures(running, {**running, "kubernetesVersion": "1.36.0"})
    assert failure.property == "kubernetesVersion"
    assert failure.reason.startswith("cluster.kubernetesVersion: '1.36.0' is not allowed; the cluster runs 1.34.2")
    (failure,) = version_failures({**running, "preinstalled": True}, {**running, "kubernetesVersion": "1.35.0", "preinstalled": True})
    assert "cluster.packages.preinstalled" in failure.reason and "new image" in failure.reason


# --- plan --against ---------------------------------------------------------------------------


def plan(tmp_path: Path, config: dict[str, Any], out: str, against: str | None = None) -> subprocess.CompletedProcess[str]:
    write_stack(tmp_path / "stacks", "dev", config)
    command = [sys.executable, "-m", "hybrid_infra", "plan", "dev", "--out", out]
    if against:
        command += ["--against", against]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("earlier")
    assert plan(directory, load_dev_config(), "base").returncode == 0
    return directory / "base"


def changes(out: Path) -> dict[str, dict[str, Any]]:
    return {record["urn"]: record for record in json.loads((out / "diff.json").read_text())}


def test_scaling_out_creates_one_node_and_updates_no_running_one(tmp_path, earlier, dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] = 4
    result = plan(tmp_path, dev_config, "out", str(earlier))
    assert result.returncode == 0, result.stderr
    diff = changes(tmp_path / "out")
    assert set(next(iter(diff.values()))) == {"urn", "type", "action", "changed"}
    created = sorted(r["type"].rsplit(":", 1)[-1] for r in diff.values() if r["action"] == "create")
    instances = [r for r in diff.values() if r["type"] == "openstack:compute/instance:Instance"]
    assert [r["urn"].rsplit("::", 1)[-1] for r in instances if r["action"] == "create"] == ["dev-cluster-general-3"]
    assert {"Instance", "Port"} <= set(created)
    assert [r for r in instances if r["action"] != "create" and r["action"] != "same"] == []
    assert not [r for r in diff.values() if r["action"] == "delete" and r["type"].startswith("openstack:")]
    assert "against " in result.stdout and "create" in result.stdout


@pytest.mark.parametrize(("asked", "words"), [("1.36.0", "one minor version at a time"), ("1.33.5", "cannot be downgraded")])
def test_a_refused_version_exits_2_before_anything_is_written(tmp_path, earlier, dev_config, asked, words):
    dev_config["hybrid-infra:cluster"]["kubernetesVersion"] = asked
    result = plan(tmp_path, dev_config, "out", str(earlier))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"stacks/Pulumi.dev.yaml: cluster.kubernetesVersion: '{asked}' is not allowed")
    assert "1.34.2" in line and words in line
    assert not (tmp_path / "out").exists()


def test_against_a_directory_without_a_plan_is_one_line(tmp_path, dev_config):
    result = plan(tmp_path, dev_config, "out", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"--against {tmp_path / 'nowhere'}: no readable plan.json")
    assert not (tmp_path / "out").exists()


def test_rollout_renews_a_pool_one_node_at_a_time_with_a_fresh_token():
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "rollout", "dev", "--pool", "general"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert len(commands) == 4 * 3
    for index, name in enumerate(["dev-general-0", "dev-general-1", "dev-general-2"]):
        drain, up, wait, uncordon = commands[4 * index : 4 * index + 4]
        assert drain.startswith(f"kubectl drain {name} ")
        assert up.startswith("pulumi up --stack dev --yes ") and up.endswith(f"::dev-cluster-{name.removeprefix('dev-')}'")
        assert up.count("--replace") == 4 and "pki-token-id" in up and "pki-token-issued" in up
        assert (wait, uncordon) == (f"kubectl wait --for=condition=Ready node/{name} --timeout=30m", f"kubectl uncordon {name}")


def test_a_new_image_replaces_no_running_node(tmp_path, earlier, dev_config):
    dev_config["hybrid-infra:openstack"]["image"] = "ubuntu-24.04-2026-12"
    result = plan(tmp_path, dev_config, "out", str(earlier))
    assert result.returncode == 0, result.stderr
    instances = [r for r in changes(tmp_path / "out").values() if r["type"] == "openstack:compute/instance:Instance"]
    assert len(instances) == 8 and {r["action"] for r in instances} == {"same"}
