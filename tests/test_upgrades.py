"""Day 2: version rules before anything changes, and an offline diff against an earlier plan."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_infra.addons.upgrades import adjust_controller, plan_resource, version_failures
from hybrid_infra.bootstrap.cloudinit import containerd_config
from hybrid_infra.bootstrap.upgrade import upgrade_script
from hybrid_infra.config.versions import VERSION_KEYS, change_problem, upgrade_problems
from hybrid_infra.stack import parse_stack_config
from tests.conftest import ROOT, load_dev_config, require_tool, write_stack, written_files
from tests.test_bootstrap import OS_RELEASE

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


def plan(
    tmp_path: Path, config: dict[str, Any], out: str, against: str | None = None, show_secrets: bool = False
) -> subprocess.CompletedProcess[str]:
    write_stack(tmp_path / "stacks", "dev", config)
    command = [sys.executable, "-m", "hybrid_infra", "plan", "dev", "--out", out, *(["--show-secrets"] if show_secrets else [])]
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


@pytest.mark.parametrize(("asked", "words"), [("1.37.2", "one minor version at a time"), ("1.34.5", "cannot be downgraded")])
def test_a_refused_version_exits_2_before_anything_is_written(tmp_path, earlier, dev_config, asked, words):
    dev_config["hybrid-infra:cluster"]["kubernetesVersion"] = asked
    result = plan(tmp_path, dev_config, "out", str(earlier))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"stacks/Pulumi.dev.yaml: cluster.kubernetesVersion: '{asked}' is not allowed")
    assert "1.35.8" in line and words in line
    assert not (tmp_path / "out").exists()


def test_a_smaller_control_plane_exits_2_naming_its_count(tmp_path, earlier, dev_config):
    dev_config["hybrid-infra:cluster"]["controlPlane"]["count"] = 1
    result = plan(tmp_path, dev_config, "out", str(earlier))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "stacks/Pulumi.dev.yaml: cluster.controlPlane.count: 1 is not allowed; the running cluster has 3 control-plane "
        "nodes, each an etcd member, and removing nodes without removing their members first loses etcd's quorum: keep 3"
    ]
    assert not (tmp_path / "out").exists()


def test_the_version_guard_refuses_a_smaller_control_plane_and_takes_a_larger_one():
    running = {"kubernetesVersion": "1.35.8", "controlPlaneCount": 3}
    (failure,) = version_failures(running, {**running, "controlPlaneCount": 1})
    assert failure.property == "controlPlaneCount" and failure.reason.startswith("cluster.controlPlane.count: 1 is not allowed")
    assert version_failures(running, {**running, "controlPlaneCount": 5}) == []
    # A guard recorded before it kept the count: nothing to compare with.
    assert version_failures({"kubernetesVersion": "1.35.8"}, {**running, "controlPlaneCount": 1}) == []


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
        assert up.count("--replace") == 4
        assert all(f"pki-token-{name}-{part}'" in up for part in ("id", "secret", "issued"))
        assert (wait, uncordon) == (f"kubectl wait --for=condition=Ready node/{name} --timeout=30m", f"kubectl uncordon {name}")


def rollout(tmp_path: Path, config: dict[str, Any], *options: str) -> subprocess.CompletedProcess[str]:
    write_stack(tmp_path / "stacks", "dev", config)
    command = [sys.executable, "-m", "hybrid_infra", "rollout", "dev", *options]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_the_only_control_plane_node_is_renewed_only_with_force(tmp_path, dev_config):
    dev_config["hybrid-infra:cluster"]["controlPlane"]["count"] = 1
    refused = rollout(tmp_path, dev_config, "--pool", "control-plane")
    assert refused.returncode == 2 and not refused.stdout
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("stacks/Pulumi.dev.yaml: --pool: 'control-plane' has one node: ")
    assert "deletes the cluster's only etcd member" in line and "--force" in line
    forced = rollout(tmp_path, dev_config, "--pool", "control-plane", "--force")
    assert forced.returncode == 0, forced.stderr
    first, *commands = forced.stdout.splitlines()
    assert first.startswith("# --force: replacing the only control-plane node deletes the cluster's only etcd member")
    assert any(command.startswith("pulumi up --stack dev --yes --replace") for command in commands)
    # Three control-plane nodes renew one at a time without --force; so does a worker pool of one.
    dev_config["hybrid-infra:cluster"]["controlPlane"]["count"] = 3
    assert rollout(tmp_path, dev_config, "--pool", "control-plane").returncode == 0
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] = 1
    assert rollout(tmp_path, dev_config, "--pool", dev_config["hybrid-infra:cluster"]["pools"][0]["name"]).returncode == 0


def test_a_new_image_replaces_no_running_node(tmp_path, earlier, dev_config):
    dev_config["hybrid-infra:openstack"]["image"] = "ubuntu-24.04-2026-12"
    result = plan(tmp_path, dev_config, "out", str(earlier))
    assert result.returncode == 0, result.stderr
    instances = [r for r in changes(tmp_path / "out").values() if r["type"] == "openstack:compute/instance:Instance"]
    assert len(instances) == 8 and {r["action"] for r in instances} == {"same"}


# --- the upgrade Plans -------------------------------------------------------------------------



def strict(schema: Any) -> Any:
    """The CRD's structural schema, refusing fields it does not name (as the API server prunes them)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema and not schema.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(item) for item in schema]
    return schema

PLAN_CRD = ROOT / "tests" / "schemas" / "system-upgrade-controller-v0.20.1-plans-crd.yaml"


def plan_schema() -> dict[str, Any]:
    crd = yaml.safe_load(PLAN_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return strict(version["schema"]["openAPIV3Schema"])


def spec_at(version: str) -> Any:
    config = load_dev_config()
    config["hybrid-infra:cluster"]["kubernetesVersion"] = version
    return parse_stack_config(config)


def test_plans_are_valid_plans_control_plane_first_one_at_a_time():
    jsonschema = pytest.importorskip("jsonschema")
    cluster = spec_at("1.35.1").cluster
    control, workers = plan_resource(cluster, "control-plane"), plan_resource(cluster, "workers")
    for plan_object in (control, workers):
        jsonschema.validate(plan_object, plan_schema())
        assert plan_object["spec"]["version"] == "v1.35.1"
        expressions = plan_object["spec"]["nodeSelector"]["matchExpressions"]
        assert {"key": "hybrid-infra.io/kubernetes-version", "operator": "NotIn", "values": ["1.35.1"]} in expressions
        assert plan_object["spec"]["drain"]["disableEviction"] is False  # KubeVirt migrates VMs on eviction
        assert plan_object["spec"]["upgrade"]["image"] == "docker.io/library/ubuntu:24.04"  # tagged: not rewritten
    assert control["spec"]["concurrency"] == 1 and workers["spec"]["concurrency"] == 1
    assert "prepare" not in control["spec"]
    # Workers wait until every control-plane node runs the new kubelet.
    assert workers["spec"]["prepare"]["image"] == "registry.k8s.io/kubectl:v1.35.1"
    assert "--for=jsonpath={.status.nodeInfo.kubeletVersion}=v1.35.1" in workers["spec"]["prepare"]["args"]
    assert control["spec"]["upgrade"]["args"][-1] == "control-plane" and workers["spec"]["upgrade"]["args"][-1] == "worker"


def test_max_unavailable_sets_the_workers_concurrency(dev_config):
    dev_config["hybrid-infra:cluster"]["upgrade"] = {"maxUnavailable": 3}
    assert plan_resource(parse_stack_config(dev_config).cluster, "workers")["spec"]["concurrency"] == 3


def test_an_upgrade_image_without_a_tag_is_refused(dev_config):
    from hybrid_infra.config import ConfigError

    dev_config["hybrid-infra:cluster"]["upgrade"] = {"image": "docker.io/library/ubuntu"}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_config)
    assert caught.value.problems[0].startswith("cluster.upgrade.image: 'docker.io/library/ubuntu' is not allowed")


def test_the_controllers_drain_jobs_use_kubectl_of_the_cluster_version():
    adjust = adjust_controller(spec_at("1.35.0").cluster)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "default-controller-env"},
                  "data": {"SYSTEM_UPGRADE_JOB_KUBECTL_IMAGE": "rancher/kubectl:v1.30.3"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "system-upgrade-controller"},
                  "spec": {"template": {"spec": {}}}}
    assert adjust(config_map)["data"]["SYSTEM_UPGRADE_JOB_KUBECTL_IMAGE"] == "registry.k8s.io/kubectl:v1.35.0"
    assert config_map["data"]["SYSTEM_UPGRADE_JOB_KUBECTL_IMAGE"] == "rancher/kubectl:v1.30.3"  # a copy was changed
    annotations = adjust(deployment)["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"hybrid-infra.io/kubectl-image": "registry.k8s.io/kubectl:v1.35.0"}


def test_the_dev_plan_holds_the_plans_and_the_upgrade_gate(tmp_path, earlier, dev_config):
    dev_config["hybrid-infra:cluster"]["kubernetesVersion"] = "1.36.5"
    result = plan(tmp_path, dev_config, "out", str(earlier))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    plans = {p.name: yaml.safe_load(p.read_text()) for p in (out / "manifests").glob("plan-system-upgrade-*.yaml")}
    assert sorted(plans) == ["plan-system-upgrade-hybrid-infra-control-plane.yaml", "plan-system-upgrade-hybrid-infra-workers.yaml"]
    jsonschema = pytest.importorskip("jsonschema")
    for written in plans.values():
        jsonschema.validate(written, plan_schema())
        assert written["spec"]["version"] == "v1.36.5"
    diff = changes(out)
    updated = {r["urn"].rsplit("::", 1)[-1]: r for r in diff.values() if r["action"] == "update"}
    assert {"dev-upgrade-control-plane", "dev-upgrade-workers", "dev-upgraded"} <= set(updated)
    instances = [r for r in diff.values() if r["type"] == "openstack:compute/instance:Instance"]
    assert len(instances) == 8 and {r["action"] for r in instances} == {"same"}
    assert (out / "manifests" / "operator-system-upgrade-controller.pinned.yaml").exists()


# --- the upgrade script, against stand-ins ------------------------------------------------------

UPGRADE_STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$HYBRID_INFRA_ROOT/calls.log"
case "$(basename "$0")" in
  kubelet) echo "Kubernetes $(cat "$HYBRID_INFRA_ROOT/kubelet-version")" ;;
  kubectl) case "$*" in *"get configmap kubeadm-config"*) printf 'apiVersion: kubeadm.k8s.io/v1beta4\\nkubernetesVersion: %s\\n' "$(cat "$HYBRID_INFRA_ROOT/cluster-version")" ;; esac ;;
  containerd) echo "containerd containerd.io 2.3.7 1234abcd" ;;
  dpkg-query) printf installed ;;
esac
"""


def run_upgrade(tmp_path: Path, role: str, kubelet: str, cluster: str) -> tuple[subprocess.CompletedProcess[str], list[str], Path]:
    root = tmp_path / "root"
    for directory in ("etc/apt/sources.list.d", "var/log", "bin"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for command in ("apt-get", "apt-mark", "containerd", "curl", "dpkg-query", "kubeadm", "kubectl", "kubelet", "systemctl", "sleep"):
        stub = root / "bin" / command
        stub.write_text(UPGRADE_STUB)
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    (root / "kubelet-version").write_text(kubelet)
    (root / "cluster-version").write_text(cluster)
    # A node of this version: containerd 2 with the configuration the new version renders.
    (root / "etc/containerd").mkdir(parents=True)
    (root / "etc/containerd/config.toml").write_text(containerd_config(spec_at("1.35.0").cluster))
    path = root / "upgrade.sh"
    path.write_text(upgrade_script(spec_at("1.35.0").cluster))
    env = {**os.environ, "HYBRID_INFRA_ROOT": str(root), "PATH": f"{root / 'bin'}:{os.environ['PATH']}",
           "SYSTEM_UPGRADE_NODE_NAME": "dev-cp-1"}
    result = subprocess.run(["bash", str(path), role], capture_output=True, text=True, env=env, timeout=60)
    log = root / "calls.log"
    return result, log.read_text().splitlines() if log.exists() else [], root


def test_upgrade_script_passes_shellcheck(tmp_path):
    shellcheck = require_tool("shellcheck")
    path = tmp_path / "upgrade.sh"
    path.write_text(upgrade_script(spec_at("1.35.0").cluster))
    checked = subprocess.run([shellcheck, "--severity=style", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_the_first_control_plane_node_applies_the_upgrade_in_the_documented_order(tmp_path):
    result, made, root = run_upgrade(tmp_path, "control-plane", "v1.34.2", "v1.34.2")
    assert result.returncode == 0, result.stderr
    sources = (root / "etc/apt/sources.list.d/kubernetes.list").read_text()
    assert "https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /" in sources
    steps = [line for line in made if not line.startswith(("sleep", "kubelet --version"))]
    order = [
        next(i for i, line in enumerate(steps) if line.startswith(prefix))
        for prefix in (
            "apt-get -q -o DPkg::Lock::Timeout=600 update",
            "apt-get -q -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages kubeadm=1.35.0-1.1",
            "kubeadm upgrade apply v1.35.0 --yes",
            "apt-get -q -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages kubelet=1.35.0-1.1 kubectl=1.35.0-1.1",
            "systemctl daemon-reload",
            "systemctl restart kubelet",
            "kubectl --kubeconfig /etc/kubernetes/admin.conf label node dev-cp-1 hybrid-infra.io/kubernetes-version=1.35.0 --overwrite",
        )
    ]
    assert order == sorted(order)
    assert not [line for line in made if line.startswith("kubeadm upgrade node")]


def test_the_other_control_plane_nodes_and_workers_upgrade_their_node(tmp_path):
    result, made, _ = run_upgrade(tmp_path / "cp", "control-plane", "v1.34.2", "v1.35.0")
    assert result.returncode == 0, result.stderr
    assert "kubeadm upgrade node" in made and not [line for line in made if "upgrade apply" in line]
    result, made, _ = run_upgrade(tmp_path / "worker", "worker", "v1.34.2", "v1.35.0")
    assert result.returncode == 0, result.stderr
    assert "kubeadm upgrade node" in made
    assert "kubectl --kubeconfig /etc/kubernetes/kubelet.conf label node dev-cp-1 hybrid-infra.io/kubernetes-version=1.35.0 --overwrite" in made


def test_a_node_already_at_the_version_only_gets_its_label(tmp_path):
    result, made, _ = run_upgrade(tmp_path, "worker", "v1.35.0", "v1.35.0")
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in made] == ["kubelet", "kubectl"]


def test_the_upgrade_script_refuses_an_unknown_role(tmp_path):
    result, made, _ = run_upgrade(tmp_path, "etcd", "v1.34.2", "v1.34.2")
    assert result.returncode == 2 and made == []


# --- a cluster made with containerd 1.7 (the previous version of hybrid-infra) ------------------

PREVIOUS = ROOT / "tests" / "fixtures" / "dev-1.35.8-containerd-1.7"
# Ubuntu's containerd 1.7 until containerd.io is installed, then containerd.io's 2.3.
NODE_STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$HYBRID_INFRA_ROOT/calls.log"
case "$(basename "$0")" in
  kubelet) echo "Kubernetes $(cat "$HYBRID_INFRA_ROOT/kubelet-version")" ;;
  kubectl) case "$*" in *"get configmap kubeadm-config"*) printf 'kubernetesVersion: %s\\n' "$(cat "$HYBRID_INFRA_ROOT/cluster-version")" ;; esac ;;
  containerd)
    if [ -e "$HYBRID_INFRA_ROOT/containerd.io" ]; then echo "containerd containerd.io 2.3.7 1234abcd"
    else echo "containerd github.com/containerd/containerd 1.7.28 "; fi ;;
  apt-get)
    case "$*" in *"--download-only"*) ;; *"containerd.io=2.3.*"*) touch "$HYBRID_INFRA_ROOT/containerd.io" ;; esac
    [ ! -e "$HYBRID_INFRA_ROOT/apt-fails" ] || ! grep -q -- "$(cat "$HYBRID_INFRA_ROOT/apt-fails")" <<<"$*"
    ;;
  dpkg-query) [ ! -e "$HYBRID_INFRA_ROOT/containerd.io" ] || printf installed ;;
  ctr) echo "Server: containerd.io" ;;
  curl) [ "$2" != -o ] || touch "$3" ;;
  gpg)
    if [ "$2" = --with-colons ]; then printf 'pub:-:4096:1:8D81803C0EBFCD88:1487788586:::-:::scESA::::::23::0:\\nfpr:::::::::%s:\\n' \\
      "$(cat "$HYBRID_INFRA_ROOT/served-key" 2>/dev/null || echo 9DC858229FC7DD38854AE2D88D81803C0EBFCD88)"
    else touch "$5"; fi ;;
esac
"""
NODE_COMMANDS = (
    "apt-get", "apt-mark", "containerd", "ctr", "curl", "dpkg-query", "gpg", "kubeadm", "kubectl", "kubelet", "systemctl", "sleep"
)


def previous_node(tmp_path: Path) -> Path:
    """A worker as the previous version bootstrapped it: its cloud-config's files, and its containerd
    configuration installed where its script installed it."""
    root = tmp_path / "root"
    for name, content in written_files((PREVIOUS / "dev-general-0.user-data").read_text()).items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (root / "etc/containerd").mkdir(parents=True)
    (root / "etc/containerd/config.toml").write_text((root / "etc/hybrid-infra/containerd.toml").read_text())
    (root / "etc/os-release").write_text(OS_RELEASE)
    for directory in ("etc/apt/sources.list.d", "var/log", "bin"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for command in NODE_COMMANDS:
        stub = root / "bin" / command
        stub.write_text(NODE_STUB)
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    (root / "kubelet-version").write_text("v1.35.8")
    (root / "cluster-version").write_text("v1.36.5")
    return root


def run_on(root: Path, script: str, role: str = "worker") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    path = root / "upgrade.sh"
    path.write_text(script)
    env = {**os.environ, "HYBRID_INFRA_ROOT": str(root), "PATH": f"{root / 'bin'}:{os.environ['PATH']}",
           "SYSTEM_UPGRADE_NODE_NAME": "dev-general-0"}
    result = subprocess.run(["bash", str(path), role], capture_output=True, text=True, env=env, timeout=60)
    log = root / "calls.log"
    return result, log.read_text().splitlines() if log.exists() else []


def first(calls: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(calls) if line.startswith(prefix))


def test_a_node_made_with_containerd_1_7_moves_to_containerd_2_before_its_kubelet(tmp_path):
    root = previous_node(tmp_path)
    assert 'plugins."io.containerd.grpc.v1.cri"' in (root / "etc/containerd/config.toml").read_text()
    cluster = spec_at("1.36.5").cluster
    result, made = run_on(root, upgrade_script(cluster))
    assert result.returncode == 0, result.stderr
    apt = "apt-get -q -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages"
    order = [
        first(made, prefix)
        for prefix in (
            "apt-get -q -o DPkg::Lock::Timeout=600 install -y --download-only containerd.io=2.3.*",
            "systemctl stop kubelet",
            f"{apt} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold containerd.io=2.3.*",
            "apt-mark hold containerd.io",
            "systemctl restart containerd",
            "ctr version",
            "systemctl start kubelet",
            f"{apt} kubeadm=1.36.5-1.1",
            "kubeadm upgrade node",
            f"{apt} kubelet=1.36.5-1.1 kubectl=1.36.5-1.1",
            "systemctl restart kubelet",
        )
    ]
    assert order == sorted(order)
    written = (root / "etc/containerd/config.toml").read_text()
    assert written.startswith("version = 3\n") and "sandbox = 'registry.k8s.io/pause:3.10.2'" in written
    repository = (root / "etc/apt/sources.list.d/containerd.list").read_text()
    assert "https://download.docker.com/linux/ubuntu noble stable" in repository


def test_a_node_already_on_containerd_2_gets_only_the_new_versions_configuration(tmp_path):
    root = previous_node(tmp_path)
    (root / "containerd.io").touch()
    result, made = run_on(root, upgrade_script(spec_at("1.36.5").cluster))
    assert result.returncode == 0, result.stderr
    assert not [line for line in made if "containerd.io=" in line or line.startswith("curl")]
    assert first(made, "systemctl restart containerd") < first(made, "apt-get -q -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages kubeadm=")
    assert "pause:3.10.2" in (root / "etc/containerd/config.toml").read_text()
    # Once the configuration is the rendered one, containerd is left alone.
    (root / "calls.log").unlink()
    (root / "kubelet-version").write_text("v1.35.8")
    _, again = run_on(root, upgrade_script(spec_at("1.36.5").cluster))
    assert not [line for line in again if "containerd" in line and line.startswith("systemctl")]


def test_a_repository_key_without_the_pinned_fingerprint_stops_the_upgrade(tmp_path):
    root = previous_node(tmp_path)
    (root / "served-key").write_text("0123456789ABCDEF0123456789ABCDEF01234567")
    result, made = run_on(root, upgrade_script(spec_at("1.36.5").cluster))
    assert result.returncode == 1
    assert "refusing the key at https://download.docker.com/linux/ubuntu/gpg" in result.stderr
    assert not [line for line in made if "containerd.io=" in line or "kubeadm=" in line]


def test_plan_against_a_containerd_1_7_cluster_moves_containerd_first(tmp_path, dev_config):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "plan.json").write_bytes(gzip.decompress((PREVIOUS / "plan.json.gz").read_bytes()))
    dev_config["hybrid-infra:cluster"]["kubernetesVersion"] = "1.36.5"
    result = plan(tmp_path, dev_config, "out", against=str(earlier), show_secrets=True)
    assert result.returncode == 0, result.stderr
    assert "upgrade: running nodes move from Kubernetes 1.35.8 to 1.36.5" in result.stdout
    said = result.stdout[result.stdout.index("upgrade: running nodes") :]
    assert said.index("containerd.io 2.3.*") < said.index("kubeadm 1.36.5")
    out = tmp_path / "out"
    diff = changes(out)
    updated = {r["urn"].rsplit("::", 1)[-1] for r in diff.values() if r["action"] == "update"}
    assert {"dev-upgrade-control-plane", "dev-upgrade-workers"} <= updated
    instances = [r for r in diff.values() if r["type"] == "openstack:compute/instance:Instance"]
    assert len(instances) == 8 and {r["action"] for r in instances} == {"same"}
    secret = yaml.safe_load((out / "manifests" / "secret-system-upgrade-hybrid-infra-upgrade.yaml").read_text())
    script = next(iter(secret["stringData"].values()))
    main = script[script.index("\nmain() {") :]
    assert main.index("update_containerd") < main.index("use_repository_of_version") < main.index("install_package kubeadm")
    # The very script the plan hands the controller, on a node the earlier plan made.
    node = previous_node(tmp_path / "node")
    ran, made = run_on(node, script)
    assert ran.returncode == 0, ran.stderr
    assert first(made, "systemctl restart containerd") < first(made, "apt-get -q -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages kubeadm=")


@pytest.mark.parametrize("failing", ["--download-only", "--force-confold"])
def test_a_failed_containerd_move_leaves_the_kubelet_running(tmp_path, failing):
    """A download that fails leaves the node as it was; an install that fails after the kubelet stopped
    starts the kubelet again: the job fails, and no node is left without its kubelet."""
    root = previous_node(tmp_path)
    (root / "apt-fails").write_text(failing)
    result, made = run_on(root, upgrade_script(spec_at("1.36.5").cluster))
    assert result.returncode == 1
    assert not [line for line in made if "kubeadm=" in line]
    stopped = [i for i, line in enumerate(made) if line == "systemctl stop kubelet"]
    started = [i for i, line in enumerate(made) if line == "systemctl start kubelet"]
    if failing == "--download-only":
        assert stopped == [] and started == []
    else:
        assert len(stopped) == 1 and started and started[-1] > stopped[0]


def test_a_node_on_the_distributions_containerd_2_moves_to_containerd_io(tmp_path):
    """Ubuntu's own containerd 2.x (an unattended update of the package the earlier nodes got) is not the
    pinned containerd.io: the node moves as from 1.7."""
    root = previous_node(tmp_path)
    (root / "bin" / "containerd").write_text("#!/usr/bin/env bash\necho 'containerd github.com/containerd/containerd/v2 2.2.1 '\n")
    result, made = run_on(root, upgrade_script(spec_at("1.36.5").cluster))
    assert result.returncode == 0, result.stderr
    assert [line for line in made if line.endswith("--force-confold containerd.io=2.3.*")]
