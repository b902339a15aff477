"""``hybrid-infra plan`` and ``validate`` end to end, as a user runs them."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_infra.offline.plan import available_stacks, load_stack
from tests.conftest import STACKS, cloud_init_schema, write_stack


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hybrid_infra", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def dev_plan(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("plan") / "dev"
    return out, cli("plan", "dev", "--stacks", str(STACKS), "--out", str(out))


def test_plan_prints_tree_and_summary(dev_plan):
    out, result = dev_plan
    assert result.returncode == 0, result.stderr
    assert "hybrid-infra:index:HybridPlatform dev" in result.stdout
    assert "openstack:compute/instance:Instance dev-cluster-virt-1" in result.stdout
    assert "dev: Kubernetes 1.35.8 on openstack" in result.stdout
    rows = {
        cells[0]: cells[1:4]
        for line in result.stdout.splitlines()
        if (cells := [c.strip() for c in line.split("│")[1:-1]]) and len(cells) == 7
    }
    assert rows["control-plane"] == ["control-plane", "3", "medium"]
    assert rows["general"] == ["worker", "3", "large"]
    assert rows["virt"] == ["worker", "2", "virt"]
    assert "API endpoint https://203.0.113.10:6443 (loadBalancer, public)" in result.stdout
    assert "versions: Kubernetes 1.35.8, cilium 1.20.2, OpenStack CCM 2.35.0, Cinder CSI 2.35.0" in result.stdout
    assert f"plan written to {out}" in result.stdout
    [path] = [line for line in result.stdout.splitlines() if line.startswith("time to ")]
    assert path.startswith(
        "time to KubeVirt Available: a chain of 12 resources, about 17.7 min (modelled from hybrid_infra/offline/durations.yaml)"
    )
    assert path.endswith("slowest: dev-cluster-ready 5.5 min, dev-kubevirt-kubevirt 5.0 min, dev-cluster-endpoint-lb 2.0 min")


def test_plan_json_holds_every_resource(dev_plan):
    out, _ = dev_plan
    plan = json.loads((out / "plan.json").read_text())
    assert plan["stack"] == "dev"
    resources = plan["resources"]
    assert set(resources[0]) == {
        "urn", "id", "type", "name", "parent", "inputs", "outputs", "dependencies", "provider", "ignoreChanges",
        "retainOnDelete", "protect", "deleteBeforeReplace", "replaceOnChanges", "customTimeouts",
    }
    urns = {r["urn"] for r in resources}
    for resource in resources:
        assert resource["parent"] is None or resource["parent"].startswith("urn:pulumi:dev::hybrid-infra::")
        assert set(resource["dependencies"]) <= urns
    roles = sorted(r["inputs"]["metadata"]["hybrid-infra-role"] for r in resources if r["type"].endswith("Instance"))
    assert roles == ["control-plane"] * 3 + ["worker"] * 5
    listener = next(r for r in resources if r["type"].endswith("listener:Listener"))
    assert listener["inputs"]["protocolPort"] == 6443
    assert len([r for r in resources if r["type"].endswith("member:Member")]) == 3


def test_plan_records_carry_ids_that_references_lead_to(dev_plan):
    out, _ = dev_plan
    resources = json.loads((out / "plan.json").read_text())["resources"]
    by_id = {r["id"]: r for r in resources if r["id"]}
    assert all(r["id"] for r in resources if r["type"].startswith("openstack:"))
    for instance in (r for r in resources if r["type"] == "openstack:compute/instance:Instance"):
        group = by_id[instance["inputs"]["schedulerHints"][0]["group"]]
        assert group["type"] == "openstack:compute/serverGroup:ServerGroup"
        port = by_id[instance["inputs"]["networks"][0]["port"]]
        assert (port["type"], port["inputs"]["name"]) == ("openstack:networking/port:Port", instance["inputs"]["name"])


def test_every_node_user_data_passes_cloud_init_schema(dev_plan):
    out, _ = dev_plan
    files = sorted((out / "nodes").glob("*.user-data"))
    assert [f.name for f in files][:2] == ["dev-cp-0.user-data", "dev-cp-1.user-data"] and len(files) == 8
    for path in files:
        checked = cloud_init_schema(path)
        assert checked.returncode == 0, f"{path.name}: {checked.stdout}{checked.stderr}"


def test_two_plans_are_byte_identical(dev_plan, tmp_path):
    out, first = dev_plan
    again = tmp_path / "again"
    second = cli("plan", "dev", "--stacks", str(STACKS), "--out", str(again))
    assert second.returncode == 0
    assert second.stdout == first.stdout.replace(str(out), str(again))
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for relative in files:
        assert (out / relative).read_bytes() == (again / relative).read_bytes(), relative


def test_default_output_is_build_stack(tmp_path):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text((STACKS / "Pulumi.dev.yaml").read_text())
    result = cli("plan", "dev", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build" / "dev" / "plan.json").is_file()


def test_bad_stack_file_exits_2_with_one_line_per_problem(tmp_path, dev_config):
    cluster = dev_config["hybrid-infra:cluster"]
    cluster["controlPlane"]["count"] = 2
    cluster["network"]["podCidr"] = "10.20.0.0/16"
    cluster["endpointt"] = cluster.pop("endpoint")
    write_stack(tmp_path / "stacks", "broken", dev_config)
    result = cli("plan", "broken", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "stacks/Pulumi.broken.yaml: cluster.network.podCidr: 10.20.0.0/16 overlaps nodeCidr 10.20.0.0/24; "
        "node, pod and service networks must not overlap",
        "stacks/Pulumi.broken.yaml: cluster.controlPlane.count: 2 is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)",
        "stacks/Pulumi.broken.yaml: cluster.endpointt: unknown key; did you mean 'endpoint'?",
    ]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "build").exists()


def test_a_kubernetes_version_newer_than_known_exits_2_with_one_line(tmp_path, dev_config):
    dev_config["hybrid-infra:cluster"]["kubernetesVersion"] = "1.99.0"
    write_stack(tmp_path / "stacks", "future", dev_config)
    result = cli("plan", "future", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "stacks/Pulumi.future.yaml: cluster.kubernetesVersion: '1.99.0' is not allowed; "
        "this version of hybrid-infra knows Kubernetes 1.31 to 1.37"
    ]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "build").exists()


def test_a_thousand_nodes_on_a_pod_network_too_small_exit_2_with_one_line(tmp_path, dev_config):
    cluster = dev_config["hybrid-infra:cluster"]
    cluster["pools"][0]["count"] = 995
    cluster["network"]["nodeCidr"] = "10.20.0.0/22"
    write_stack(tmp_path / "stacks", "large", dev_config)
    result = cli("plan", "large", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "stacks/Pulumi.large.yaml: cluster.network.podCidr: 10.244.0.0/16 is not allowed; it holds 256 nodes "
        "(each node takes a /24 of it), the cluster has 1000"
    ]
    assert not (tmp_path / "build").exists()


def test_unknown_stack_lists_the_stacks_that_exist(tmp_path):
    result = cli("plan", "staging", "--stacks", str(STACKS), cwd=tmp_path)
    assert result.returncode == 2
    existing = ", ".join(available_stacks(STACKS))
    assert "no stack 'staging'" in result.stderr and f"stacks that exist: {existing}" in result.stderr
    assert not (tmp_path / "build").exists()


def test_yaml_syntax_error_names_the_line(tmp_path):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text("config:\n  hybrid-infra:cluster: [\n")
    result = cli("validate", "bad", cwd=tmp_path)
    assert result.returncode == 2
    assert "stacks/Pulumi.bad.yaml: line 3: not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_accepts_dev():
    result = cli("validate", "dev", "--stacks", str(STACKS))
    assert result.returncode == 0
    assert "stack 'dev' is valid: openstack, Kubernetes 1.35.8" in result.stdout


def test_plan_refuses_to_write_over_a_directory_that_is_not_a_plan(tmp_path):
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "mine.yaml").write_text("kind: ConfigMap\n")
    result = cli("plan", "dev", "--stacks", str(STACKS), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "holds files but no plan.json" in result.stderr
    assert (tmp_path / "manifests" / "mine.yaml").exists()



SIZE_MAPS = {"dev": "openstack.flavors", "aws": "aws.instanceTypes", "prod": "vsphere.sizes"}
"""Each stack's platform key that maps the sizes pools name."""
UNKNOWN_KEYS = {
    "unknown-section": (
        lambda config: config.update({"hybrid-infra:workload": {}}),
        "hybrid-infra:workload: unknown key; did you mean 'hybrid-infra:workloads'?",
    ),
    "unknown-key-in-a-section": (
        lambda config: config["hybrid-infra:cluster"].update(endpointt=config["hybrid-infra:cluster"].pop("endpoint")),
        "cluster.endpointt: unknown key; did you mean 'endpoint'?",
    ),
}


@pytest.mark.parametrize("unknown", sorted(UNKNOWN_KEYS))
@pytest.mark.parametrize("stack", sorted(SIZE_MAPS))
def test_validate_reports_two_bad_sizes_and_an_unknown_key_in_three_lines(tmp_path, stack, unknown):
    config = copy.deepcopy(load_stack(STACKS, stack).values)
    pools = config["hybrid-infra:cluster"]["pools"]
    pools[0]["size"] = "huge"
    pools[1]["size"] = "tiny"
    change, line = UNKNOWN_KEYS[unknown]
    change(config)
    written = write_stack(tmp_path / "stacks", "sizes", config)
    result = cli("validate", "sizes", cwd=tmp_path)
    assert result.returncode == 2
    allowed = f"use a size defined in {SIZE_MAPS[stack]}: large, medium, virt"
    assert result.stderr.strip().splitlines() == [
        f"stacks/Pulumi.sizes.yaml: {line}",
        f"stacks/Pulumi.sizes.yaml: cluster.pools[0].size: 'huge' is not allowed; {allowed}",
        f"stacks/Pulumi.sizes.yaml: cluster.pools[1].size: 'tiny' is not allowed; {allowed}",
    ]
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert sorted(tmp_path.rglob("*")) == [tmp_path / "stacks", written]
