"""The dev stack's first control-plane node, booted in the emulator from its own cloud-config: its
bootstrap script runs the real kubeadm init, which starts the real etcd, kube-apiserver,
kube-controller-manager and kube-scheduler (through the kubelet stand-in) with the stack's keys."""

from __future__ import annotations

import base64
import functools
import json
import os
import socket
import ssl
import subprocess
import time

import pytest

from hybrid_infra.offline.plan import run_plan
from hybrid_infra.readiness import ClusterNotReady, _RecordProvider, wait_until_ready
from tests.conftest import STACKS
from tests.e2e.emulator import SHIM_DIR, SHIMS, TOOLS, Cluster

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
