"""The whole cluster on the simulated cloud: PKI end to end, secrets, manifests, ordering."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from hybrid_infra.bootstrap.cloudinit import DEFAULT_USER_DATA_TARGET
from hybrid_infra.offline.plan import Redactor, run_plan
from hybrid_infra.offline.plan import user_data as planned_user_data
from hybrid_infra.offline.simulate import Simulation
from tests.conftest import STACKS, VALIDATE_VERSION, cloud_init_schema, write_stack, written_files
from tests.test_bootstrap import openssl_discovery_hash

kubernetes_validate = pytest.importorskip("kubernetes_validate")


def plan(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "dev", "--stacks", str(STACKS), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def shown(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("shown") / "dev"
    return out, plan(out, "--show-secrets")


@pytest.fixture(scope="module")
def hidden(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("hidden") / "dev"
    return out, plan(out)


def user_data(out: Path, node: str) -> dict[str, Any]:
    return yaml.safe_load((out / "nodes" / f"{node}.user-data").read_text())


def written_file(out: Path, node: str, path: str) -> str:
    return next(f["content"] for f in user_data(out, node)["write_files"] if f["path"] == path)


def plan_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "plan.json").read_text())


def kubeconfig(out: Path) -> dict[str, Any]:
    return yaml.safe_load(plan_json(out)["outputs"]["kubeconfig"])


def test_admin_certificate_verifies_against_the_ca_on_the_control_plane(shown):
    out, _ = shown
    ca = x509.load_pem_x509_certificate(written_file(out, "dev-cp-0", "/etc/hybrid-infra/pki/ca.crt").encode())
    config = kubeconfig(out)
    user = config["users"][0]["user"]
    admin = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    admin.verify_directly_issued_by(ca)
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == ca.public_bytes(
        __import__("cryptography").hazmat.primitives.serialization.Encoding.PEM
    )
    assert config["clusters"][0]["cluster"]["server"] == "https://203.0.113.10:6443"
    key = base64.b64decode(user["client-key-data"]).decode()
    assert "PRIVATE KEY" in key
    for node in ("dev-cp-1", "dev-cp-2"):
        assert written_file(out, node, "/etc/hybrid-infra/pki/ca.crt") == written_file(out, "dev-cp-0", "/etc/hybrid-infra/pki/ca.crt")


def test_workers_discover_the_ca_by_its_hash_and_hold_no_key(shown, tmp_path):
    out, _ = shown
    expected = openssl_discovery_hash(written_file(out, "dev-cp-0", "/etc/hybrid-infra/pki/ca.crt"), tmp_path)
    for node in ("dev-general-0", "dev-general-1", "dev-general-2", "dev-virt-0", "dev-virt-1"):
        text = (out / "nodes" / f"{node}.user-data").read_text()
        assert "PRIVATE KEY" not in text, node
        join = yaml.safe_load(written_file(out, node, "/etc/hybrid-infra/kubeadm-join.yaml"))
        assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [expected]
        assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", join["discovery"]["bootstrapToken"]["token"])


def test_init_node_config(shown):
    out, _ = shown
    documents = {d["kind"]: d for d in yaml.safe_load_all(written_file(out, "dev-cp-0", "/etc/hybrid-infra/kubeadm-init.yaml"))}
    cluster = documents["ClusterConfiguration"]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    balancer = next(r for r in plan_json(out)["resources"] if r["type"].endswith("loadBalancer:LoadBalancer"))
    assert cluster["controlPlaneEndpoint"] == f"{balancer['outputs']['vipAddress']}:6443"
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16"
    assert cluster["networking"]["serviceSubnet"] == "10.96.0.0/12"


def test_every_cloud_config_is_small_and_passes_cloud_init_schema(shown):
    out, _ = shown
    for path in sorted((out / "nodes").glob("*.user-data")):
        assert path.stat().st_size < DEFAULT_USER_DATA_TARGET, path.name
        checked = cloud_init_schema(path)
        assert checked.returncode == 0, f"{path.name}: {checked.stdout}{checked.stderr}"


def secret_values(out: Path) -> dict[str, str]:
    """Secrets as the shown plan has them: each must be absent from the hidden plan."""
    config = kubeconfig(out)
    cp0 = lambda path: written_file(out, "dev-cp-0", path)  # noqa: E731
    join = yaml.safe_load(written_file(out, "dev-general-0", "/etc/hybrid-infra/kubeadm-join.yaml"))
    encryption = yaml.safe_load(cp0("/etc/kubernetes/encryption/config.yaml"))
    return {
        "ca key": cp0("/etc/hybrid-infra/pki/ca.key").splitlines()[1],
        "etcd ca key": cp0("/etc/hybrid-infra/pki/etcd/ca.key").splitlines()[1],
        "service-account key": cp0("/etc/hybrid-infra/pki/sa.key").splitlines()[1],
        "admin key (base64)": config["users"][0]["user"]["client-key-data"],
        "admin key": base64.b64decode(config["users"][0]["user"]["client-key-data"]).decode().splitlines()[1],
        "join token": join["discovery"]["bootstrapToken"]["token"],
        "token secret": join["discovery"]["bootstrapToken"]["token"].split(".")[1],
        "encryption key": encryption["resources"][0]["providers"][0]["secretbox"]["keys"][0]["secret"],
    }


def test_without_show_secrets_no_secret_appears_anywhere(shown, hidden):
    secrets = secret_values(shown[0])
    out, result = hidden
    texts = {str(p): p.read_text() for p in out.rglob("*") if p.is_file()}
    texts["stdout"], texts["stderr"] = result.stdout, result.stderr
    for where, text in texts.items():
        assert "PRIVATE KEY" not in text, where
        for what, value in secrets.items():
            assert value not in text, f"{what} in {where}"
    worker = (out / "nodes" / "dev-general-0.user-data").read_text()
    # The token's id is public by design (it names the token's Secret); its secret half is hidden.
    assert re.search(r"token: [a-z0-9]{6}\.\[secret\]\n", worker)
    assert plan_json(out)["outputs"]["kubeconfig"] == "[secret]"


def test_manifests_hold_the_pinned_releases(hidden):
    out, _ = hidden
    releases = {
        p.name: yaml.safe_load(p.read_text())["helmRelease"] for p in (out / "manifests").glob("helmrelease-*.yaml")
    }
    cilium = releases["helmrelease-kube-system-cilium.yaml"]
    assert (cilium["chart"], cilium["repository"], cilium["version"]) == ("cilium", "https://helm.cilium.io/", "1.20.2")
    assert cilium["values"]["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"] == ["10.244.0.0/16"]
    ccm = releases["helmrelease-kube-system-openstack-cloud-controller-manager.yaml"]
    assert (ccm["chart"], ccm["version"]) == ("openstack-cloud-controller-manager", "2.35.0")
    csi = releases["helmrelease-kube-system-cinder-csi.yaml"]
    assert (csi["chart"], csi["version"]) == ("openstack-cinder-csi", "2.35.0")
    assert (ccm["values"]["secret"]["name"], csi["values"]["secret"]["name"]) == ("cloud-config", "cloud-config")
    secrets = {p.name for p in (out / "manifests").glob("secret-kube-system-*")}
    assert "secret-kube-system-cloud-config.yaml" in secrets


# Checked against their own schemas (KubeVirt, CDI, the upgrade Plans, the VolumeSnapshotClass in
# tests/test_snapshots.py) or shapes (the CNIs' policies) elsewhere.
CUSTOM_RESOURCE_GROUPS = (
    "kubevirt.io", "cdi.kubevirt.io", "cilium.io", "projectcalico.org", "upgrade.cattle.io", "snapshot.storage.k8s.io"
)


def test_every_plain_manifest_passes_kubernetes_validate_strict(hidden):
    out, _ = hidden
    plain = [
        p
        for p in sorted((out / "manifests").glob("*.yaml"))
        if not p.name.startswith("helmrelease-") and not p.name.endswith(".pinned.yaml")
        and yaml.safe_load(p.read_text())["apiVersion"].split("/")[0] not in CUSTOM_RESOURCE_GROUPS
    ]
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in plain}
    assert {"Secret", "StorageClass"} <= kinds
    for path in plain:
        kubernetes_validate.validate(yaml.safe_load(path.read_text()), VALIDATE_VERSION, strict=True)


def test_default_storage_class_is_cinder(hidden):
    out, _ = hidden
    storage = yaml.safe_load((out / "manifests" / "storageclass-cluster-standard.yaml").read_text())
    assert storage["provisioner"] == "cinder.csi.openstack.org"
    assert storage["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


def test_the_nodes_are_rendered_after_the_cluster_record(hidden):
    """The record says whether the cluster exists before the first control-plane node is rendered
    (test_bootstrap: no other node's rendering depends on it)."""
    out, _ = hidden
    resources = {r["name"]: r for r in plan_json(out)["resources"]}
    record = resources["dev-cluster-record"]
    assert record["inputs"]["server"] == "https://203.0.113.10:6443"
    instances = [r for r in resources.values() if r["type"] == "openstack:compute/instance:Instance"]
    assert len(instances) == 8
    assert all(record["urn"] in instance["dependencies"] for instance in instances)


def test_a_running_cluster_renders_its_first_node_to_join():
    """Planned as a later `pulumi up` of a running cluster, the first control-plane node's cloud-config
    (what a replaced node boots with) joins; every other node's stays byte for byte the same."""
    fresh = {name: text.value for name, text in planned_user_data(run_plan(STACKS, "dev")).items()}
    running = {name: text.value for name, text in planned_user_data(run_plan(STACKS, "dev", cluster_exists=True)).items()}
    assert {name for name in fresh if fresh[name] != running[name]} == {"dev-cp-0"}
    before, after = written_files(fresh["dev-cp-0"]), written_files(running["dev-cp-0"])
    assert "/etc/hybrid-infra/kubeadm-init.yaml" in before and "/etc/hybrid-infra/kubeadm-init.yaml" not in after
    assert "readonly STEP=init\n" in before["/usr/local/sbin/hybrid-infra-bootstrap"]
    assert "readonly STEP=join-control-plane\n" in after["/usr/local/sbin/hybrid-infra-bootstrap"]


def test_add_ons_wait_for_the_api_through_the_provider(hidden):
    out, _ = hidden
    resources = {r["name"]: r for r in plan_json(out)["resources"]}
    gate, provider = resources["dev-cluster-ready"], resources["dev-cluster-kubernetes"]
    assert gate["urn"] in provider["dependencies"]
    control_plane = {r["urn"] for r in resources.values() if r["type"].endswith("Instance") and "-cp-" in r["inputs"]["name"]}
    assert control_plane <= set(gate["dependencies"])
    assert gate["inputs"]["server"] == "https://203.0.113.10:6443"
    for name in ("dev-cni-cilium", "dev-openstack-ccm", "dev-openstack-cinder-csi", "dev-openstack-storage-class"):
        assert resources[name]["provider"] == provider["urn"], name
    ccm = resources["dev-openstack-ccm"]
    assert resources["dev-openstack-cloud-config"]["urn"] in ccm["dependencies"]


def test_join_token_is_kept_as_a_bootstrap_token_secret(shown):
    out, _ = shown
    secret = next(r for r in plan_json(out)["resources"] if r["name"] == "dev-cluster-join-token-dev-general-0")
    token = yaml.safe_load(written_file(out, "dev-general-0", "/etc/hybrid-infra/kubeadm-join.yaml"))["discovery"][
        "bootstrapToken"
    ]["token"]
    token_id, token_secret = token.split(".")
    assert secret["inputs"]["metadata"] == {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"}
    assert secret["inputs"]["type"] == "bootstrap.kubernetes.io/token"
    data = secret["inputs"]["stringData"]
    assert (data["token-id"], data["token-secret"]) == (token_id, token_secret)
    # One hour after the simulated clock, when Pulumi issued it.
    assert data["expiration"] == "2026-01-01T01:00:00Z"
    adopter = next(r for r in plan_json(out)["resources"] if r["name"] == "dev-cluster-kubernetes-adopt")
    assert secret["provider"] == adopter["urn"] and adopter["inputs"]["upsertExistingObjects"] == "true"


def join_tokens(config, tmp_path, stack: str) -> dict[str, tuple[str, str, str]]:
    """Every node's join token: its id, its secret and its Secret's name."""
    write_stack(tmp_path, stack, config)
    resources = run_plan(tmp_path, stack).simulation.resources
    redactor = Redactor(Simulation(stack, False, resources), show_secrets=True)
    found = {}
    for secret in (r for r in resources if r.name.startswith("dev-cluster-join-token-")):
        data = redactor.value(secret.inputs["stringData"])
        found[secret.name.removeprefix("dev-cluster-join-token-")] = (
            data["token-id"], data["token-secret"], secret.inputs["metadata"]["name"]
        )
    return found


def test_every_node_has_its_own_token_and_a_new_node_brings_a_new_one(tmp_path, dev_config):
    first = join_tokens(dev_config, tmp_path / "a", "dev")
    assert sorted(first) == ["dev-cp-0", "dev-cp-1", "dev-cp-2", "dev-general-0", "dev-general-1", "dev-general-2",
                             "dev-virt-0", "dev-virt-1"]
    assert len({token_id for token_id, _, _ in first.values()}) == len(first)
    assert all(name == f"bootstrap-token-{token_id}" for token_id, _, name in first.values())
    assert join_tokens(dev_config, tmp_path / "b", "dev") == first
    dev_config["hybrid-infra:cluster"]["readinessTimeoutSeconds"] = 900
    assert join_tokens(dev_config, tmp_path / "c", "dev") == first
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] += 1
    grown = join_tokens(dev_config, tmp_path / "d", "dev")
    # The running nodes' tokens (and so their cloud-configs) stay; the new node has its own.
    assert {node: grown[node] for node in first} == first
    assert grown["dev-general-3"][0] not in {token_id for token_id, _, _ in first.values()}


def test_no_token_without_expiry_anywhere_in_the_plan(shown):
    out, _ = shown
    texts = [p.read_text() for p in out.rglob("*") if p.is_file()]
    assert not [t for t in texts if "ttl: 0s" in t]
    init = yaml.safe_load_all(written_file(out, "dev-cp-0", "/etc/hybrid-infra/kubeadm-init.yaml"))
    (token,) = next(iter(init))["bootstrapTokens"]
    assert token["ttl"] == "60m0s"


def test_rsa_keys_when_configured(tmp_path, dev_config):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from hybrid_infra.offline.plan import run_plan, write_plan
    from tests.conftest import write_stack

    dev_config["hybrid-infra:cluster"]["pki"] = {"keyAlgorithm": "rsa-2048"}
    write_stack(tmp_path / "stacks", "rsa", dev_config)
    out = tmp_path / "out"
    write_plan(run_plan(tmp_path / "stacks", "rsa"), out, show_secrets=True)
    key = serialization.load_pem_private_key(written_file(out, "dev-cp-0", "/etc/hybrid-infra/pki/ca.key").encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    init = yaml.safe_load_all(written_file(out, "dev-cp-0", "/etc/hybrid-infra/kubeadm-init.yaml"))
    assert next(d for d in init if d["kind"] == "ClusterConfiguration")["encryptionAlgorithm"] == "RSA-2048"
    ca = x509.load_pem_x509_certificate(written_file(out, "dev-cp-0", "/etc/hybrid-infra/pki/ca.crt").encode())
    admin = base64.b64decode(kubeconfig(out)["users"][0]["user"]["client-certificate-data"])
    x509.load_pem_x509_certificate(admin).verify_directly_issued_by(ca)
    for path in sorted((out / "nodes").glob("dev-cp-*.user-data")):
        checked = cloud_init_schema(path)
        assert checked.returncode == 0, f"{path.name}: {checked.stdout}{checked.stderr}"
