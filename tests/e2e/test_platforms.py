"""The first control-plane node of a stack on another platform, booted in the emulator from its own
cloud-config: the platform's endpoint (a load balancer named in DNS), the provider ID the node
takes from the cloud's instance data and, on AWS, the keys it reads from Secrets Manager, with the
real kubeadm and API server."""

from __future__ import annotations

import datetime
import json
import time

import pytest

from hybrid_infra.bootstrap.cloudinit import KEY_FETCH_SCRIPT, PKI_SOURCE
from hybrid_infra.bootstrap.kubeadm import ENCRYPTION_CONFIG
from tests.e2e.aws_cloud import AwsCloud
from tests.e2e.emulator import Cluster
from tests.e2e.test_control_plane import BOOTSTRAPPED, plan_of

pytestmark = pytest.mark.e2e


def test_the_first_aws_control_plane_node_fetches_its_keys_and_initialises_behind_its_named_load_balancer(tmp_path_factory):
    """The node's user data holds no key: its program reads them from Secrets Manager with the
    credentials of its instance profile (the metadata service, IMDSv2), before the bootstrap; a
    worker's role is refused the secret."""
    directory = tmp_path_factory.mktemp("aws")
    emulated = Cluster("aws", directory, plan_of)
    cloud = None
    try:
        cloud = AwsCloud(emulated, plan_of("aws", False), directory / "cloud", "us-east-1")
        emulated.on_network = lambda node: cloud.serve_metadata(
            node, "control-plane" if node.name in emulated.control_plane else "worker"
        )
        name = emulated.control_plane[0]
        assert "PRIVATE KEY" not in emulated.user_data(name)
        node = emulated.boot(name)
        assert node.wait_for(BOOTSTRAPPED, 420), emulated.logs()
        emulated.wait_until_ready(90)
        assert emulated.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"
        registered = json.loads(emulated.kubectl("get", "node", name, "-o", "json").stdout)
        metadata = emulated.instance_data[name]["v1"]
        # The ID the node filled in from its instance data, which the cloud controller looks nodes up by.
        assert registered["spec"]["providerID"] == f"aws:///{metadata['availability_zone']}/{metadata['instance_id']}"

        # The cluster runs on the keys of the secret, which only kubeadm's directory keeps.
        assert node.read("/etc/kubernetes/pki/ca.key") == cloud.files[f"{PKI_SOURCE}/ca.key"]
        assert node.read("/etc/kubernetes/pki/sa.key") == cloud.files[f"{PKI_SOURCE}/sa.key"]
        assert node.read(ENCRYPTION_CONFIG) == cloud.files[ENCRYPTION_CONFIG]
        assert node.run("test", "-e", PKI_SOURCE).returncode != 0
        log = node.read("/var/log/journal/hybrid-infra-bootstrap.log")
        assert f"hybrid-infra-fetch-keys: key files written from {cloud.secret_name}" in log
        # A bootstrapped node's program reads nothing more.
        assert node.run(KEY_FETCH_SCRIPT, check=True).stderr == ""
        assert node.run("test", "-e", PKI_SOURCE).returncode != 0

        status, answer = cloud.get_secret_value("worker")
        assert (status, "AccessDenied" in answer) == (403, True), answer
        status, answer = cloud.get_secret_value("control-plane")
        assert status == 200 and json.loads(answer)["SecretString"] == cloud.secret_string
    finally:
        if cloud is not None:
            cloud.close()
        emulated.close()


def renewed(cluster: Cluster) -> datetime.datetime:
    """When kube-vip's Lease was last renewed."""
    stamp = cluster.kubectl("-n", "kube-system", "get", "lease", "plndr-cp-lock", "-o", "jsonpath={.spec.renewTime}").stdout
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_the_first_prod_control_plane_node_initialises_behind_the_virtual_ip_it_announces(tmp_path_factory):
    """vSphere's endpoint is a virtual IP kube-vip announces from the control plane: its static pod,
    in place before `kubeadm init` with super-admin.conf, takes the Lease through the node's own API
    server and puts the address on the node; kubeadm's steps after wait-control-plane reach the API
    through it. Once the node is bootstrapped the pod runs with admin.conf."""
    emulated = Cluster("prod", tmp_path_factory.mktemp("prod"), plan_of)
    try:
        assert emulated.virtual_ip and emulated.balancer is None
        name = emulated.control_plane[0]
        node = emulated.boot(name)
        assert node.wait_for(BOOTSTRAPPED, 420), emulated.logs()
        emulated.wait_until_ready(90)
        assert emulated.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"
        holder = emulated.kubectl("-n", "kube-system", "get", "lease", "plndr-cp-lock", "-o", "jsonpath={.spec.holderIdentity}")
        assert holder.stdout == name
        assert f" {emulated.api_address}/32 " in node.run("ip", "-4", "-o", "addr", "show", "dev", "eth0", check=True).stdout
        manifest = node.read("/etc/kubernetes/manifests/kube-vip.yaml")
        assert "path: /etc/kubernetes/admin.conf" in manifest and "super-admin.conf" not in manifest
        # The pod started again with admin.conf (its process with super-admin.conf is gone) and renews the Lease.
        since = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3)
        deadline = time.monotonic() + 60
        while renewed(emulated) <= since:
            assert time.monotonic() < deadline, "kube-vip renews its Lease with admin.conf within 60s"
            time.sleep(2)
        log = node.read("/var/log/journal/hybrid-infra-bootstrap.log")
        assert "[init] Using Kubernetes version" in log
    finally:
        emulated.close()
