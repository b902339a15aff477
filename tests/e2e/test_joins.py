"""The dev stack's nodes join the first one in the emulator, each from its own cloud-config: the
control-plane nodes through their bootstrap script's etcd steps (etcdctl run by `kubectl exec` in
an etcd pod) and `kubeadm join --control-plane`, a worker through kubeadm's token discovery and the
kubelet's TLS bootstrap. Then nodes are destroyed and replaced the way `hybrid-infra rollout` does."""

from __future__ import annotations

import datetime
import json
import re
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml

from hybrid_infra.readiness import _RecordProvider
from tests.e2e.emulator import Cluster, join_token_secrets, wait_until
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


BOOTSTRAP_SCRIPT = "/usr/local/sbin/hybrid-infra-bootstrap"
BOOTSTRAP_LOG = "/var/log/journal/hybrid-infra-bootstrap.log"
APISERVER_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
ETCD_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"


def endpoint_status(cluster: Cluster) -> int | None:
    """The HTTP status an anonymous GET of /readyz gets through the endpoint, over TLS verified
    against the stack's CA; None without an answer."""
    context = ssl.create_default_context(cadata=cluster.ca_cert)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(cluster.record_inputs()["server"] + "/readyz", timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for_status(cluster: Cluster, status: int, what: str) -> None:
    wait_until(lambda: endpoint_status(cluster) == status, 120, f"the endpoint answering {status} ({what})", cluster.logs)


def first_node_decides_to_join(node) -> bool:
    """The first control-plane node's own check (its bootstrap script's cluster_answers, run alone)
    finds the cluster answering, so it joins rather than initialise."""
    script = node.read(BOOTSTRAP_SCRIPT)
    assert script.rstrip().endswith('\nmain "$@"')
    return node.run("bash", "-c", f'source <(sed \'$d\' {BOOTSTRAP_SCRIPT}) && cluster_answers').returncode == 0


def record_finds_the_cluster(cluster: Cluster) -> bool:
    """The record, never answered before, as the next deployment updates it."""
    assert cluster.record.outs["initialised"] is False
    return _RecordProvider().update(cluster.record.id, cluster.record.outs, cluster.record_inputs()).outs["initialised"]


def test_an_existing_cluster_answering_500_401_or_403_is_never_initialised_again(cluster):
    """An endpoint that reaches an API server whatever it answers (kube-vip's address, an AWS NLB
    failing open with every target down): one whose etcd is stopped (500), one refusing anonymous
    requests (401), and a cluster whose anonymous health access was revoked (403). Both the record's
    next update and the first node's own check count each as an existing cluster. A first node
    rendered to initialise (a record replaced by hand, say) then boots into the 403 and joins."""
    balancer, second = cluster.balancer, cluster.nodes["dev-cp-1"]
    all_members = list(balancer.members)
    # A bare machine with the first node's files, rendered to initialise, that runs nothing itself.
    document = yaml.safe_load(cluster.user_data("dev-cp-0", cluster_exists=False))
    document.pop("runcmd")
    prober = cluster.boot_with("dev-general-0", yaml.safe_dump(document))
    binding = json.loads(cluster.kubectl("get", "clusterrolebinding", "system:public-info-viewer", "-o", "json").stdout)
    for field in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        binding["metadata"].pop(field, None)
    manifest = second.read(APISERVER_MANIFEST)
    try:
        assert prober.wait_for("/var/lib/e2e-cloud-init/done", 60), cluster.logs()
        balancer.fail_open = True
        balancer.members = [cluster.addresses["dev-cp-1"]]

        second.run("mv", ETCD_MANIFEST, "/root/etcd.yaml", check=True)
        wait_for_status(cluster, 500, "etcd stopped on its member")
        assert record_finds_the_cluster(cluster) and first_node_decides_to_join(prober)
        second.run("mv", "/root/etcd.yaml", ETCD_MANIFEST, check=True)
        wait_for_status(cluster, 200, "etcd back")

        assert "    - kube-apiserver\n" in manifest
        refusing = manifest.replace("    - kube-apiserver\n", "    - kube-apiserver\n    - --anonymous-auth=false\n")
        second.run("sh", "-c", f"cat >{APISERVER_MANIFEST}", input=refusing, check=True)
        wait_for_status(cluster, 401, "anonymous requests refused")
        assert record_finds_the_cluster(cluster) and first_node_decides_to_join(prober)
        second.run("sh", "-c", f"cat >{APISERVER_MANIFEST}", input=manifest, check=True)
        wait_for_status(cluster, 200, "anonymous requests allowed again")

        balancer.members = all_members
        cluster.kubectl("delete", "clusterrolebinding", "system:public-info-viewer")
        wait_for_status(cluster, 403, "anonymous health access revoked")
        assert record_finds_the_cluster(cluster) and first_node_decides_to_join(prober)
        prober.destroy()

        before = members(cluster, "dev-cp-1")
        cluster.nodes["dev-cp-0"].destroy()
        replacement = cluster.boot("dev-cp-0", cluster_exists=False, generation=1)
        wait_until(
            lambda: replacement.run("grep", "-q", "joining it instead of initialising", BOOTSTRAP_LOG).returncode == 0,
            300, "the first node deciding to join", cluster.logs,
        )
    finally:
        # Whatever step failed, the cluster is whole again for the next test: the second node's etcd
        # and API server as they were, then the binding, through the load balancer still failing
        # open (its health checks, anonymous, find every member down until the binding is back).
        second.run("sh", "-c", f"test -e /root/etcd.yaml && mv /root/etcd.yaml {ETCD_MANIFEST}")
        if second.read(APISERVER_MANIFEST) != manifest:
            second.run("sh", "-c", f"cat >{APISERVER_MANIFEST}", input=manifest, check=True)
        balancer.members, balancer.fail_open = all_members, True
        wait_until(lambda: cluster.kubectl("apply", "-f", "-", check=False, input=json.dumps(binding)).returncode == 0, 120,
                   "the anonymous health access restored", cluster.logs)
        balancer.fail_open = False
    assert replacement.wait_for(BOOTSTRAPPED, 900), cluster.logs()
    log = replacement.read("/var/log/journal/hybrid-infra-bootstrap.log")
    assert f"the cluster already answers at {cluster.api_address}:6443: joining it instead of initialising" in log
    assert "[init] Using Kubernetes version" not in log
    after = members(cluster, "dev-cp-1")
    assert sorted(after) == CONTROL_PLANE
    assert after["dev-cp-1"] == before["dev-cp-1"] and after["dev-cp-2"] == before["dev-cp-2"]
    assert after["dev-cp-0"][0] != before["dev-cp-0"][0]


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
    replacement = cluster.boot("dev-cp-0", cluster_exists=record.outs["initialised"], generation=2)
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
