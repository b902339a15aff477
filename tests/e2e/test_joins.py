"""The dev stack's nodes join the first one in the emulator, each from its own cloud-config: the
control-plane nodes through their bootstrap script's etcd steps (etcdctl run by `kubectl exec` in
an etcd pod) and `kubeadm join --control-plane`, a worker through kubeadm's token discovery and the
kubelet's TLS bootstrap. Then nodes are destroyed and replaced the way `hybrid-infra rollout` does."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import threading
import time

import pytest
import yaml

from hybrid_infra.readiness import _RecordProvider
from tests.e2e.emulator import Cluster, join_token_secrets
from tests.e2e.test_control_plane import BOOTSTRAPPED, ETCDCTL, plan_of

pytestmark = pytest.mark.e2e

CONTROL_PLANE = ["dev-cp-0", "dev-cp-1", "dev-cp-2"]


def in_an_hour() -> str:
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def apply(cluster: Cluster, manifest: dict) -> None:
    result = cluster.kubectl("apply", "-f", "-", check=False, input=json.dumps(manifest))
    assert result.returncode == 0, result.stderr


def members(cluster: Cluster, node: str = "dev-cp-0") -> dict[str, tuple[str, str, str]]:
    """etcd's members as etcdctl reports them on ``node``: name -> (ID, status, is learner)."""
    listed = cluster.nodes[node].run(*ETCDCTL, "member", "list", "-w", "simple", check=True).stdout
    found = {}
    for line in listed.splitlines():
        member_id, status, name, _, _, learner = [field.strip() for field in line.split(",")]
        found[name] = (member_id, status, learner)
    return found


def wait_until(condition, timeout: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(3)
    pytest.fail(f"{what} within {timeout:g}s\n{cluster.logs()}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    emulated = Cluster("dev", tmp_path_factory.mktemp("dev-joins"), plan_of)
    try:
        # The first `pulumi up`: the record, made before any node, finds no cluster.
        emulated.record = _RecordProvider().create(emulated.record_inputs())
        assert emulated.record.outs["initialised"] is False
        assert emulated.boot("dev-cp-0", cluster_exists=False).wait_for(BOOTSTRAPPED, 420), emulated.logs()
        emulated.wait_until_ready(60)
        # What `pulumi up` does once the readiness gate passes: every node's join token Secret.
        for secret in join_token_secrets(plan_of("dev", False), in_an_hour()).values():
            apply(emulated, secret)
        joining = ["dev-cp-1", "dev-cp-2", "dev-virt-0"]
        for name in joining:
            emulated.boot(name)
        for name in joining:
            assert emulated.nodes[name].wait_for(BOOTSTRAPPED, 900), emulated.logs()
        yield emulated
    finally:
        emulated.close()


def test_three_control_plane_nodes_form_a_three_member_etcd(cluster):
    found = members(cluster)
    assert sorted(found) == CONTROL_PLANE
    assert {(status, learner) for _, status, learner in found.values()} == {("started", "false")}
    for name in ("dev-cp-1", "dev-cp-2"):
        log = cluster.nodes[name].read("/var/log/journal/hybrid-infra-bootstrap.log")
        assert "[etcd] Announced new etcd member joining to the existing etcd cluster" in log
    # Booted together, the third waited while the second's member was not yet voting.
    third = cluster.nodes["dev-cp-2"].read("/var/log/journal/hybrid-infra-bootstrap.log")
    assert "waiting for the etcd member of dev-cp-1 to be started and voting" in third


def test_a_worker_joins_through_token_discovery_and_tls_bootstrap(cluster):
    node = json.loads(cluster.kubectl("get", "node", "dev-virt-0", "-o", "json").stdout)
    labels = node["metadata"]["labels"]
    assert (labels["hybrid-infra.io/pool"], labels["tier"]) == ("virt", "virtualization")
    # The pool's taint, which kubeadm gives the kubelet to register with, and the cloud provider's.
    taints = {(taint["key"], taint.get("value", ""), taint["effect"]) for taint in node["spec"]["taints"]}
    assert taints == {
        ("hybrid-infra.io/virtualization", "true", "NoSchedule"),
        ("node.cloudprovider.kubernetes.io/uninitialized", "true", "NoSchedule"),
    }
    kubeconfig = cluster.nodes["dev-virt-0"].read("/etc/kubernetes/kubelet.conf")
    assert "/var/lib/kubelet/pki/kubelet-client-current.pem" in kubeconfig
    requests = json.loads(cluster.kubectl("get", "csr", "-o", "json").stdout)["items"]
    token_id = join_token_secrets(plan_of("dev", False), in_an_hour())["dev-virt-0"]["stringData"]["token-id"]
    issued = [
        csr for csr in requests
        if csr["spec"]["username"] == f"system:bootstrap:{token_id}" and csr["status"].get("certificate")
    ]
    assert len(issued) == 1


def discovery(cluster: Cluster, name: str, user_data: str) -> subprocess.CompletedProcess[str]:
    """kubeadm's join discovery (the first step of its kubelet-start phase) on a fresh node that holds
    ``user_data``'s files but runs nothing, with a 30 s discovery timeout instead of the node's 15 min."""
    document = yaml.safe_load(user_data)
    document.pop("runcmd")
    node = cluster.boot_with(name, yaml.safe_dump(document))
    try:
        assert node.wait_for("/var/lib/e2e-cloud-init/done", 60), cluster.logs()
        configs = list(yaml.safe_load_all(node.read("/etc/hybrid-infra/kubeadm-join.yaml")))
        configs[0]["timeouts"]["discovery"] = "30s"
        node.run("sh", "-c", "cat >/root/join.yaml", input=yaml.safe_dump_all(configs), check=True)
        return node.run("kubeadm", "join", "phase", "kubelet-start", "--config", "/root/join.yaml", timeout=180)
    finally:
        node.destroy()


def test_discovery_refuses_an_expired_token(cluster):
    secret = join_token_secrets(plan_of("dev", False), "2026-01-01T00:00:00Z")["dev-general-1"]
    apply(cluster, secret)
    found = discovery(cluster, "dev-general-1", cluster.user_data("dev-general-1"))
    token_id = secret["stringData"]["token-id"]
    assert found.returncode != 0
    assert f'could not find a JWS signature in the cluster-info ConfigMap for token ID "{token_id}"' in found.stderr


def test_discovery_refuses_a_ca_hash_that_is_not_the_clusters(cluster):
    user_data = cluster.user_data("dev-general-2")
    join = cluster.plan_files("dev-general-2")["/etc/hybrid-infra/kubeadm-join.yaml"]
    (pinned,) = [line.strip().removeprefix("- ") for line in join.splitlines() if "sha256:" in line]
    found = discovery(cluster, "dev-general-2", user_data.replace(pinned, "sha256:" + "0" * 64))
    assert found.returncode != 0
    assert "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys" in found.stderr


def test_a_replaced_control_plane_node_removes_only_its_dead_member_and_quorum_holds(cluster):
    before = members(cluster)
    failures: list[str] = []
    stop = threading.Event()

    def write() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            result = cluster.kubectl(
                "-n", "default", "create", "configmap", f"quorum-{count}", "--from-literal=n=1", check=False, timeout=20
            )
            if result.returncode != 0:
                failures.append(result.stderr.strip())
            time.sleep(1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        cluster.nodes["dev-cp-2"].destroy()
        replacement = cluster.boot("dev-cp-2", generation=1)
        assert replacement.wait_for(BOOTSTRAPPED, 900), cluster.logs()
    finally:
        stop.set()
        writer.join()
    after = members(cluster)
    assert sorted(after) == CONTROL_PLANE
    assert after["dev-cp-0"] == before["dev-cp-0"] and after["dev-cp-1"] == before["dev-cp-1"]
    assert after["dev-cp-2"][0] != before["dev-cp-2"][0] and after["dev-cp-2"][1:] == ("started", "false")
    log = replacement.read("/var/log/journal/hybrid-infra-bootstrap.log")
    assert f"removing the stale etcd member dev-cp-2 ({before['dev-cp-2'][0]})" in log
    assert not failures, failures


def test_a_replaced_first_node_joins_even_while_the_api_is_unreachable_for_minutes(cluster):
    """A later `pulumi up` asked the running cluster, and the record now says it exists: rendered from
    it, the first node has no init step at all. With the endpoint answering nothing for two minutes it
    keeps trying to join, then joins."""
    record = _RecordProvider().update(cluster.record.id, cluster.record.outs, cluster.record_inputs())
    assert record.outs["initialised"] is True
    before = members(cluster)
    cluster.nodes["dev-cp-0"].destroy()
    members_before = cluster.balancer.members
    cluster.balancer.members = []
    replacement = cluster.boot("dev-cp-0", cluster_exists=record.outs["initialised"], generation=1)
    time.sleep(120)
    cluster.balancer.members = members_before
    assert replacement.wait_for(BOOTSTRAPPED, 900), cluster.logs()
    log = replacement.read("/var/log/journal/hybrid-infra-bootstrap.log")
    # The script's every line is a join's, and kubeadm init never printed its first line.
    assert set(re.findall(r"hybrid-infra-bootstrap\[([\w-]+)\]", log)) == {"join-control-plane"}
    assert "[init] Using Kubernetes version" not in log
    after = members(cluster, "dev-cp-1")
    assert sorted(after) == CONTROL_PLANE and after["dev-cp-1"] == before["dev-cp-1"]
    assert after["dev-cp-0"][0] != before["dev-cp-0"][0]
