"""The dev stack's first control-plane node, booted in the emulator from its own cloud-config: its
bootstrap script runs the real kubeadm init, which starts the real etcd, kube-apiserver,
kube-controller-manager and kube-scheduler (through the kubelet stand-in) with the stack's keys."""

from __future__ import annotations

import base64
import functools
import json
import os
import shlex
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from hybrid_infra.addons.upgrades import SCRIPT_FILE, SCRIPT_SECRET
from hybrid_infra.cli import rollout_commands
from hybrid_infra.config.cluster import VERSION_LABEL
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.readiness import ApiNotAvailable, ClusterNotReady, _RecordProvider, wait_for_api_service, wait_until_ready
from hybrid_infra.topology import node_groups
from tests.conftest import STACKS
from tests.e2e.emulator import SHIM_DIR, SHIMS, TOOLS, Cluster, wait_until

pytestmark = pytest.mark.e2e

BOOTSTRAPPED = "/var/lib/hybrid-infra/bootstrapped"
ETCDCTL = (
    "etcdctl", "--endpoints", "https://127.0.0.1:2379", "--cacert", "/etc/kubernetes/pki/etcd/ca.crt",
    "--cert", "/etc/kubernetes/pki/etcd/healthcheck-client.crt", "--key", "/etc/kubernetes/pki/etcd/healthcheck-client.key",
)


@functools.cache
def plan_of(stack: str, cluster_exists: bool):
    return run_plan(STACKS, stack, cluster_exists=cluster_exists)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    emulated = Cluster("dev", tmp_path_factory.mktemp("dev"), plan_of)
    try:
        first = emulated.boot(emulated.control_plane[0])
        assert first.wait_for(BOOTSTRAPPED, 420), emulated.logs()
        emulated.wait_until_ready(60)
        yield emulated
    finally:
        emulated.close()


def test_only_the_named_shims_stand_in_and_the_programs_come_from_the_tools(cluster):
    assert sorted(path.name for path in SHIM_DIR.iterdir()) == sorted(SHIMS)
    node = cluster.nodes["dev-cp-0"]
    for program in ("kubeadm", "kubectl", "etcdctl", "containerd"):
        assert node.run("sh", "-c", f"command -v {program}").stdout.strip() == str(TOOLS / program)
    running = set()
    pids = subprocess.run(["ip", "netns", "pids", node.namespace], capture_output=True, text=True, check=True).stdout
    for pid in pids.split():
        try:
            running.add(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            continue
    for program in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet-standin"):
        assert str(TOOLS / program) in running, program
    assert "[init] Using Kubernetes version: v1.35.8" in node.read("/var/log/journal/hybrid-infra-bootstrap.log")


def test_the_bootstrapped_node_keeps_no_copy_of_its_keys(cluster):
    """cloud-init's copy of the user data (keys and token) and the bootstrap's sources are gone."""
    node = cluster.nodes["dev-cp-0"]
    for path in (
        "/var/lib/cloud/instance/user-data.txt",
        "/etc/hybrid-infra/pki/ca.key",
        "/etc/hybrid-infra/kubeadm-init.yaml",
        "/etc/hybrid-infra/kubeadm-join.yaml",
    ):
        assert node.run("test", "-e", path).returncode == 1, path
    assert node.run("test", "-s", "/etc/kubernetes/pki/ca.key").returncode == 0


def test_the_api_server_serves_a_certificate_of_the_stacks_ca(cluster):
    context = ssl.create_default_context(cadata=cluster.ca_cert)
    for address in (cluster.public_address, cluster.api_address):
        with socket.create_connection((address, 6443), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=address) as tls:
                assert tls.getpeercert()["subject"] == ((("commonName", "kube-apiserver"),),)


def test_the_stacks_admin_kubeconfig_is_cluster_admin(cluster):
    assert cluster.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"
    assert cluster.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}").stdout.count("kubeadm:cluster-admins") == 1


def test_a_secret_written_through_the_api_is_stored_encrypted_in_etcd(cluster):
    cluster.kubectl("-n", "default", "create", "secret", "generic", "e2e-secret", "--from-literal=value=plain-text-value")
    stored = cluster.nodes["dev-cp-0"].run(*ETCDCTL, "get", "/registry/secrets/default/e2e-secret", "-w", "json", check=True)
    value = base64.b64decode(json.loads(stored.stdout)["kvs"][0]["value"])
    assert value.startswith(b"k8s:enc:secretbox:v1:")
    assert b"plain-text-value" not in value
    # Read back through the API it is the plain value again.
    read = cluster.kubectl("-n", "default", "get", "secret", "e2e-secret", "-o", "jsonpath={.data.value}").stdout
    assert base64.b64decode(read) == b"plain-text-value"


def test_the_cluster_record_finds_the_running_cluster(cluster):
    """The record's own code (as Pulumi's dynamic provider host runs it) against the real API server."""
    assert _RecordProvider().create(cluster.record_inputs()).outs["initialised"] is True


def previous_patch(version: str) -> str:
    """The patch release before ``version``: what nodes not yet upgraded run."""
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) - 1}"
# The Plans' own pod-selector requirement (system-upgrade-controller v0.20.1, pkg/upgrade/job/job.go).
SUC_CONTROLLER_LABEL = "upgrade.cattle.io/controller"


def label_selector(selector: dict) -> str:
    """A LabelSelector's matchExpressions as kubectl's -l selector string."""
    terms = []
    for term in selector["matchExpressions"]:
        key, operator, values = term["key"], term["operator"], ",".join(term.get("values", []))
        terms.append(
            {"Exists": key, "DoesNotExist": f"!{key}", "In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})"}[operator]
        )
    return ",".join(terms)


def suc_drain(node: str, drain: dict) -> list[str]:
    """The kubectl arguments of the drain container the system-upgrade-controller v0.20.1 adds to a
    node's upgrade Job for a Plan's ``spec.drain`` (pkg/upgrade/job/job.go: the pod selector leaves
    the controller's own pods, then each field in turn). Its controller uncordons the node itself
    once the Job succeeded (pkg/upgrade/handle_batch.go)."""
    # Not rebuilt here: a pod selector's requirements, which the controller adds to its own, and an
    # integer timeout, which it reads as nanoseconds (time.Duration(IntVal).String()).
    assert "podSelector" not in drain and isinstance(drain.get("timeout", ""), str), drain
    arguments = ["drain", node, "--pod-selector", f"!{SUC_CONTROLLER_LABEL}"]
    # An unset (nil) field counts as true.
    if drain.get("ignoreDaemonSets") is not False:
        arguments.append("--ignore-daemonsets")
    if drain.get("deleteLocalData") is not False and drain.get("deleteEmptydirData") is not False:
        arguments.append("--delete-emptydir-data")
    if drain.get("force"):
        arguments.append("--force")
    if drain.get("timeout"):
        arguments += ["--timeout", drain["timeout"]]
    if drain.get("gracePeriod") is not None:
        arguments += ["--grace-period", str(drain["gracePeriod"])]
    if drain.get("disableEviction"):
        arguments.append("--disable-eviction=true")
    if (drain.get("skipWaitForDeleteTimeout") or 0) > 0:
        arguments += ["--skip-wait-for-delete-timeout", str(drain["skipWaitForDeleteTimeout"])]
    return arguments


def kwok_node(name: str, join_configuration: str, version: str) -> dict:
    """The Node ``name``'s kubelet registers: its well-known labels, and the labels and taints its
    kubeadm join configuration gives it, at ``version``; annotated for kwok to keep."""
    (join,) = [doc for doc in yaml.safe_load_all(join_configuration) if doc["kind"] == "JoinConfiguration"]
    registration = join["nodeRegistration"]
    extra = {argument["name"]: argument["value"] for argument in registration["kubeletExtraArgs"]}
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    labels.update(item.split("=", 1) for item in extra["node-labels"].split(","))
    labels[VERSION_LABEL] = version
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
        "spec": {"taints": registration["taints"]},
    }


def workloads_on(nodes: list[dict]) -> list[dict]:
    """A Deployment with scratch space, one pod per node of ``nodes`` to begin with (spread over the
    nodes whose taints it tolerates: a cordoned node's it does not), held by a disruption budget that
    lets one go at a time, and a DaemonSet on them: what drain evicts, waits for and leaves."""
    tolerated = {(taint["key"], taint["effect"]) for node in nodes for taint in node["spec"]["taints"]}
    placement = {
        "tolerations": [{"key": key, "operator": "Exists", "effect": effect} for key, effect in sorted(tolerated)],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node["metadata"]["name"] for node in nodes]}]}
        ]}}},
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10", "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    }
    web = {"matchLabels": {"app": "web"}}
    spread = [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
        "nodeTaintsPolicy": "Honor", "labelSelector": web,
    }]
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
         "spec": {"replicas": len(nodes), "selector": web, "template": {
             "metadata": {"labels": {"app": "web"}}, "spec": {**placement, "topologySpreadConstraints": spread}}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "default"},
         "spec": {"minAvailable": len(nodes) - 1, "selector": web}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
         "spec": {"selector": {"matchLabels": {"app": "agent"}},
                  "template": {"metadata": {"labels": {"app": "agent"}}, "spec": placement}}},
    ]


def pods_by_node(cluster: Cluster, app: str) -> dict[str, list[str]]:
    listed = json.loads(cluster.kubectl("-n", "default", "get", "pods", "-l", f"app={app}", "-o", "json").stdout)["items"]
    found: dict[str, list[str]] = {}
    for pod in listed:
        if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp"):
            found.setdefault(pod["spec"]["nodeName"], []).append(pod["metadata"]["name"])
    return found


def api_state(cluster: Cluster, kwok_log: Path) -> str:
    """The pods, the events and kwok's last words: what a reader of a failed wait looks at."""
    pods = cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
    events = cluster.kubectl("get", "events", "-A", check=False).stdout
    return f"{pods}\n{events}\n{kwok_log.read_text()[-4000:]}"


def test_the_upgrades_kubectl_steps_run_against_nodes_that_kwok_keeps(cluster, tmp_path):
    """The workers' Nodes, as their kubelets would register them, kept by kwok with their pods. The
    upgrade's kubectl steps run against them with the real kubectl and API server, as the cluster's
    admin: each Plan's node selector; the worker Plan's wait for the control plane, which times out
    while a control-plane node is not at the version and passes once none is; the drain the
    system-upgrade-controller runs for the Plan's drain settings, which evicts every pod but the
    DaemonSet's under the disruption budget (the controller's uncordon after the job is done here
    with kubectl); the node script's own kubectl steps on the control-plane node; and
    `hybrid-infra rollout`'s drain, wait and uncordon lines."""
    result = plan_of("dev", False)
    plans = {
        resource.inputs["metadata"]["name"]: resource.inputs["spec"]
        for resource in result.simulation.resources if resource.type == "kubernetes:upgrade.cattle.io/v1:Plan"
    }
    version = result.spec.cluster.kubernetes_version
    previous = previous_patch(version)
    groups = {group.name: group for group in node_groups(result.spec.cluster)}
    workers = [name for group in groups.values() if group.role != "control-plane" for name in group.node_names]
    older = ["dev-general-0", "dev-general-1"]
    kwok_log = tmp_path / "kwok.log"
    log = kwok_log.open("w")
    state = functools.partial(api_state, cluster, kwok_log)
    kwok = subprocess.Popen(
        [
            str(TOOLS / "kwok"), "--kubeconfig", str(cluster.kubeconfig), "--config", str(Path(__file__).with_name("kwok.yaml")),
            "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
            # Without a renewed lease the node lifecycle controller sets a Node's Ready to Unknown.
            "--node-lease-duration-seconds", "40",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        nodes = [
            kwok_node(name, cluster.plan_files(name)["/etc/hybrid-infra/kubeadm-join.yaml"], previous if name in older else version)
            for name in workers
        ]
        for node in nodes:
            cluster.kubectl("apply", "-f", "-", input=json.dumps(node))
        cluster.kubectl("wait", "--for=condition=Ready", *(f"node/{name}" for name in workers), "--timeout=60s")
        for manifest in workloads_on(nodes):
            cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        wait_until(lambda: sum(map(len, pods_by_node(cluster, "web").values())) == len(workers), 90, "a web pod on every worker", state)
        wait_until(lambda: sorted(pods_by_node(cluster, "agent")) == sorted(workers), 90, "an agent on every worker", state)
        assert sorted(pods_by_node(cluster, "web")) == sorted(workers)

        # The worker Plan selects the workers not yet at the version, and waits for the control plane.
        workers_plan = plans["hybrid-infra-workers"]
        selected = cluster.kubectl("get", "nodes", "-l", label_selector(workers_plan["nodeSelector"]), "-o", "name").stdout.split()
        assert selected == [f"node/{name}" for name in older]
        # A control-plane node not yet at the version (a kwok Node as kubeadm marks one) holds the workers back.
        lagging = kwok_node("dev-cp-1", cluster.plan_files("dev-cp-1")["/etc/hybrid-infra/kubeadm-join.yaml"], previous)
        lagging["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = ""
        cluster.kubectl("apply", "-f", "-", input=json.dumps(lagging))
        cluster.kubectl("wait", "--for=condition=Ready", "node/dev-cp-1", "--timeout=60s")
        waited = cluster.kubectl(*workers_plan["prepare"]["args"], "--timeout=10s", check=False)
        assert waited.returncode != 0 and "timed out waiting for the condition on nodes/dev-cp-1" in waited.stderr, waited.stderr
        cluster.kubectl("delete", "node", "dev-cp-1")
        waited = cluster.kubectl(*workers_plan["prepare"]["args"], check=False)
        assert waited.returncode == 0, waited.stderr
        for name in older:
            assert pods_by_node(cluster, "web").get(name), f"{name} holds a web pod before its drain"
            drained = cluster.kubectl(*suc_drain(name, workers_plan["drain"]), check=False, timeout=300)
            assert drained.returncode == 0, drained.stderr
            assert cluster.kubectl("get", "node", name, "-o", "jsonpath={.spec.unschedulable}").stdout == "true"
            assert pods_by_node(cluster, "web").get(name) is None, drained.stdout + drained.stderr
            assert pods_by_node(cluster, "agent").get(name), "drain leaves the DaemonSet's pod"
            # The upgrade job ran; the node's script labels it; the controller uncordons it.
            cluster.kubectl("label", "node", name, f"{VERSION_LABEL}={version}", "--overwrite")
            cluster.kubectl("uncordon", name)
        assert cluster.kubectl("get", "nodes", "-l", label_selector(workers_plan["nodeSelector"]), "-o", "name").stdout == ""
        wait_until(lambda: sum(map(len, pods_by_node(cluster, "web").values())) == len(workers), 90, "every web pod running again", state)

        # A control-plane node whose kubelet is already at the version (an upgrade interrupted after
        # its restart) is still selected until the node script's own kubectl step labels it.
        control_plane_plan = plans["hybrid-infra-control-plane"]
        cluster.kubectl("label", "node", "dev-cp-0", f"{VERSION_LABEL}={previous}", "--overwrite")
        selector = label_selector(control_plane_plan["nodeSelector"])
        assert cluster.kubectl("get", "nodes", "-l", selector, "-o", "name").stdout.split() == ["node/dev-cp-0"]
        script = next(
            getattr(resource.inputs["stringData"], "value", resource.inputs["stringData"])[SCRIPT_FILE]
            for resource in result.simulation.resources
            if resource.type == "kubernetes:core/v1:Secret" and resource.inputs["metadata"]["name"] == SCRIPT_SECRET
        )
        ran = cluster.nodes["dev-cp-0"].run(
            "env", "SYSTEM_UPGRADE_NODE_NAME=dev-cp-0", "bash", "-s", *control_plane_plan["upgrade"]["args"][2:], input=script
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert f"already at v{version}" in ran.stdout + ran.stderr
        assert cluster.kubectl("get", "nodes", "-l", selector, "-o", "name").stdout == ""

        # `hybrid-infra rollout --pool virt`: every kubectl line, around the `pulumi up` that replaces the VM.
        for line in rollout_commands(result, groups["virt"]):
            if line.startswith("kubectl drain "):
                node_name = line.split()[2]
                assert pods_by_node(cluster, "web").get(node_name), f"{node_name} holds a web pod before its drain"
            if line.startswith("kubectl "):
                ran = cluster.kubectl(*shlex.split(line)[1:], check=False, timeout=300)
                assert ran.returncode == 0, f"{line}: {ran.stderr}"
            if line.startswith("kubectl drain "):
                assert pods_by_node(cluster, "web").get(node_name) is None, line
        for name in groups["virt"].node_names:
            assert cluster.kubectl("get", "node", name, "-o", "jsonpath={.spec.unschedulable}").stdout == ""
        wait_until(lambda: sum(map(len, pods_by_node(cluster, "web").values())) == len(workers), 90, "every web pod running after the rollout", state)
    finally:
        kwok.terminate()
        kwok.wait(30)
        log.close()


CALICO_API_SERVICE = """apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v3.projectcalico.org
spec:
  group: projectcalico.org
  version: v3
  groupPriorityMinimum: 1500
  versionPriority: 200
  insecureSkipTLSVerify: true
  service: {name: calico-api, namespace: calico-apiserver, port: 443}
"""


def test_the_api_gate_waits_for_the_aggregator_to_serve_an_api(cluster, tmp_path):
    server = f"https://{cluster.public_address}:6443"
    access = (server, cluster.ca_cert, cluster.admin_cert, cluster.admin_key)
    # A built-in group: the aggregator serves it locally, Available at once.
    wait_for_api_service(*access, "v1.", 30, interval_seconds=1)
    # Calico's group before its API server runs: registered, its service not there yet.
    manifest = tmp_path / "apiservice.yaml"
    manifest.write_text(CALICO_API_SERVICE)
    cluster.kubectl("apply", "-f", str(manifest))
    try:
        with pytest.raises(ApiNotAvailable) as failed:
            wait_for_api_service(*access, "v3.projectcalico.org", 5, interval_seconds=1)
        message = str(failed.value)
        assert "\n" not in message and message.startswith("the API v3.projectcalico.org was not served within 5s")
        assert "Available False" in message
    finally:
        cluster.kubectl("delete", "-f", str(manifest))


def test_the_readiness_gate_passes_against_the_api_and_fails_in_one_line_once_it_stops(cluster):
    server = f"https://{cluster.public_address}:6443"
    wait_until_ready(server, cluster.ca_cert, cluster.admin_cert, cluster.admin_key, 60, interval_seconds=1)
    cluster.nodes["dev-cp-0"].power_off()
    started = time.monotonic()
    with pytest.raises(ClusterNotReady) as failed:
        wait_until_ready(server, cluster.ca_cert, cluster.admin_cert, cluster.admin_key, 5, interval_seconds=1)
    assert time.monotonic() - started < 30
    message = str(failed.value)
    assert "\n" not in message and message.startswith(f"kubeadm init at {server} did not finish within 5s")
