"""The pure bootstrap renderers: kubeadm documents, cloud-configs and the node bootstrap script."""

from __future__ import annotations

import base64
import configparser
import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_infra.bootstrap.cloudinit import (
    ANSWER_ATTEMPTS,
    ANSWER_RETRY_SECONDS,
    BOOTSTRAP_MARKER,
    BOOTSTRAP_SCRIPT,
    BOOTSTRAP_UNIT,
    CONTAINERD_CONFIG,
    DEFAULT_USER_DATA_TARGET,
    KUBEADM_CONFIGS,
    PROVIDER_ID_SCRIPT,
    NodeBootstrap,
    render_cloud_config,
)
from hybrid_infra.bootstrap.kubeadm import PAUSE_VERSIONS, PROVIDER_ID_PLACEHOLDER, ClusterEndpoint
from hybrid_infra.config import ConfigError
from hybrid_infra.config.fields import MAX_KUBERNETES, MIN_KUBERNETES
from hybrid_infra.platforms.openstack.infrastructure import NOVA_MAX_USER_DATA
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.topology import NodeGroup, PlatformHints
from tests.conftest import cloud_init_schema, load_dev_config, require_tool
from tests.pki_fixtures import material

ENDPOINT = ClusterEndpoint("10.20.0.2", "203.0.113.10")
HINTS = PlatformHints(cloud_provider_external=True, max_user_data=NOVA_MAX_USER_DATA)
PKI = material()


@pytest.fixture(scope="module")
def spec(request):
    from tests.conftest import load_dev_config

    return parse_stack_config(load_dev_config())


def nodes(spec, endpoint: ClusterEndpoint = ENDPOINT) -> dict[str, NodeBootstrap]:
    cluster = spec.cluster
    groups = [NodeGroup.control_plane(cluster)] + [NodeGroup.workers(cluster, p) for p in cluster.pools]
    return {
        group.node_name(i): NodeBootstrap(cluster, group, i, endpoint, HINTS) for group in groups for i in range(group.count)
    }


def cloud_config(node: NodeBootstrap) -> dict[str, Any]:
    return yaml.safe_load(render_cloud_config(node, PKI))


def files(node: NodeBootstrap) -> dict[str, dict[str, Any]]:
    return {entry["path"]: entry for entry in cloud_config(node)["write_files"]}


def kubeadm_documents(node: NodeBootstrap, step: str | None = None) -> dict[str, dict[str, Any]]:
    text = files(node)[KUBEADM_CONFIGS[step or node.step]]["content"]
    return {document["kind"]: document for document in yaml.safe_load_all(text)}


def openssl_discovery_hash(ca_pem: str, tmp_path: Path) -> str:
    """The hash as kubeadm's documentation computes it, with openssl."""
    openssl = require_tool("openssl")
    (tmp_path / "ca.crt").write_text(ca_pem)
    public = subprocess.run(
        [openssl, "x509", "-pubkey", "-noout", "-in", str(tmp_path / "ca.crt")], capture_output=True, check=True
    ).stdout
    der = subprocess.run([openssl, "pkey", "-pubin", "-outform", "der"], input=public, capture_output=True, check=True)
    return "sha256:" + hashlib.sha256(der.stdout).hexdigest()


def test_first_control_plane_node_initialises(spec):
    documents = kubeadm_documents(nodes(spec)["dev-cp-0"])
    assert set(documents) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    init, cluster = documents["InitConfiguration"], documents["ClusterConfiguration"]
    assert init["apiVersion"] == cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert cluster["controlPlaneEndpoint"] == "10.20.0.2:6443"
    assert cluster["kubernetesVersion"] == "v1.35.8"
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16"
    assert cluster["networking"]["serviceSubnet"] == "10.96.0.0/12"
    assert cluster["apiServer"]["certSANs"] == ["10.20.0.2", "203.0.113.10"]
    assert {"name": "encryption-provider-config", "value": "/etc/kubernetes/encryption/config.yaml"} in cluster[
        "apiServer"
    ]["extraArgs"]
    token = init["bootstrapTokens"][0]
    # The first boot's token expires: never `ttl: 0s`, which kubeadm writes as a token without expiry.
    assert (token["token"], token["ttl"]) == (PKI.bootstrap_token, "60m0s")
    assert documents["KubeletConfiguration"]["cgroupDriver"] == "systemd"


def test_once_the_cluster_exists_the_first_control_plane_node_joins_like_the_others(spec):
    """Pulumi's record says the cluster has answered: a replaced first node never gets to initialise."""
    first = nodes(spec)["dev-cp-0"]
    existing = NodeBootstrap(first.cluster, first.group, first.index, first.endpoint, first.hints, initialised=True)
    assert existing.step == "join-control-plane"
    written = files(existing)
    assert KUBEADM_CONFIGS["init"] not in written
    assert "JoinConfiguration" in kubeadm_documents(existing)
    assert "readonly STEP=join-control-plane\n" in script(existing)
    # Only the first node's rendering depends on the record.
    for name, node in nodes(spec).items():
        if name != "dev-cp-0":
            known = NodeBootstrap(node.cluster, node.group, node.index, node.endpoint, node.hints, initialised=True)
            assert render_cloud_config(known, PKI) == render_cloud_config(node, PKI), name


def test_other_control_plane_nodes_join_as_control_plane(spec, tmp_path):
    join = kubeadm_documents(nodes(spec)["dev-cp-2"])["JoinConfiguration"]
    assert join["controlPlane"] == {"localAPIEndpoint": {"bindPort": 6443}}
    assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [openssl_discovery_hash(PKI.ca_cert, tmp_path)]


def test_workers_join_with_token_and_discovery_hash(spec, tmp_path):
    join = kubeadm_documents(nodes(spec)["dev-virt-1"])["JoinConfiguration"]
    assert "controlPlane" not in join
    discovery = join["discovery"]["bootstrapToken"]
    assert discovery == {
        "apiServerEndpoint": "10.20.0.2:6443",
        "token": PKI.bootstrap_token,
        "caCertHashes": [openssl_discovery_hash(PKI.ca_cert, tmp_path)],
    }


def test_node_registration_carries_pool_labels_taints_and_cloud_provider(spec):
    registration = kubeadm_documents(nodes(spec)["dev-virt-0"])["JoinConfiguration"]["nodeRegistration"]
    assert registration["name"] == "dev-virt-0"
    assert registration["taints"] == [
        {"key": "hybrid-infra.io/virtualization", "value": "true", "effect": "NoSchedule"}
    ]
    args = {a["name"]: a["value"] for a in registration["kubeletExtraArgs"]}
    assert args["cloud-provider"] == "external"
    assert args["node-labels"] == "hybrid-infra.io/kubernetes-version=1.35.8,hybrid-infra.io/pool=virt,tier=virtualization"
    control = kubeadm_documents(nodes(spec)["dev-cp-0"])["InitConfiguration"]["nodeRegistration"]
    assert control["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]


# The fields of kubeadm's v1beta4 Timeouts struct (cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go).
V1BETA4_TIMEOUTS = {
    "controlPlaneComponentHealthCheck",
    "kubeletHealthCheck",
    "kubernetesAPICall",
    "etcdAPICall",
    "tlsBootstrap",
    "discovery",
    "upgradeManifests",
}


def minutes(duration: str) -> int:
    assert duration.endswith("m") and duration[:-1].isdigit(), duration
    return int(duration[:-1])


def test_init_and_join_wait_longer_than_kubeadm_defaults_for_a_slow_endpoint(spec):
    defaults = {"controlPlaneComponentHealthCheck": 4, "kubeletHealthCheck": 4, "kubernetesAPICall": 1, "etcdAPICall": 2}
    init = kubeadm_documents(nodes(spec)["dev-cp-0"])["InitConfiguration"]["timeouts"]
    assert set(init) <= V1BETA4_TIMEOUTS
    for field, default in defaults.items():
        assert minutes(init[field]) >= 2 * default, field
    for name in ("dev-cp-1", "dev-general-0"):
        join = kubeadm_documents(nodes(spec)[name])["JoinConfiguration"]["timeouts"]
        assert set(join) <= V1BETA4_TIMEOUTS
        assert minutes(join["discovery"]) >= 10 and minutes(join["tlsBootstrap"]) >= 10
        assert minutes(join["kubernetesAPICall"]) >= 2


def test_no_cloud_provider_flag_without_a_cloud_controller(spec):
    node = nodes(spec)["dev-general-0"]
    plain = NodeBootstrap(node.cluster, node.group, node.index, node.endpoint, PlatformHints(False, NOVA_MAX_USER_DATA))
    args = kubeadm_documents(plain)["JoinConfiguration"]["nodeRegistration"]["kubeletExtraArgs"]
    assert "cloud-provider" not in {a["name"] for a in args}


def test_only_control_plane_nodes_receive_keys(spec):
    for name, node in nodes(spec).items():
        text = render_cloud_config(node, PKI)
        found = files(node)
        if node.group.role == "control-plane":
            for path in ("/etc/hybrid-infra/pki/ca.key", "/etc/hybrid-infra/pki/etcd/ca.key", "/etc/hybrid-infra/pki/sa.key"):
                assert found[path]["permissions"] == "0600", (name, path)
            assert found["/etc/kubernetes/encryption/config.yaml"]["permissions"] == "0600"
            assert PKI.encryption_key in found["/etc/kubernetes/encryption/config.yaml"]["content"]
        else:
            assert "PRIVATE KEY" not in text, name
            assert not [path for path in found if "/pki/" in path or "encryption" in path], name
        for path in set(KUBEADM_CONFIGS.values()) & set(found):
            assert found[path]["permissions"] == "0600", (name, path)


def test_every_cloud_config_is_small_and_valid(spec, tmp_path):
    for name, node in nodes(spec).items():
        text = render_cloud_config(node, PKI)
        assert text.startswith("#cloud-config\n")
        assert len(text.encode()) < DEFAULT_USER_DATA_TARGET, name
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        checked = cloud_init_schema(path)
        assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}"
        assert cloud_config(node)["runcmd"] == [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "hybrid-infra-bootstrap.service"],
            ["systemctl", "start", "--no-block", "hybrid-infra-bootstrap.service"],
        ]


def test_registry_mirrors_become_containerd_hosts(spec):
    cluster = spec.cluster.model_copy(update={"registry_mirrors": {"docker.io": ["https://mirror.example.com"]}})
    node = nodes(spec)["dev-general-0"]
    mirrored = NodeBootstrap(cluster, node.group, node.index, node.endpoint, HINTS)
    hosts = files(mirrored)["/etc/containerd/certs.d/docker.io/hosts.toml"]["content"]
    assert 'server = "https://registry-1.docker.io"' in hosts
    assert '[host."https://mirror.example.com"]' in hosts


def containerd_toml(node: NodeBootstrap) -> dict[str, Any]:
    return tomllib.loads(files(node)[CONTAINERD_CONFIG]["content"])


def test_containerd_config_is_complete_version_3_with_kubeadms_pause_image(spec):
    config = containerd_toml(nodes(spec)["dev-general-0"])
    # containerd 2's format (docs/cri/config.md at v2.3.7): the CRI plugin split into images and runtime.
    assert config["version"] == 3
    images = config["plugins"]["io.containerd.cri.v1.images"]
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]
    # kubeadm 1.35's PauseVersion (cmd/kubeadm/app/constants/constants.go).
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10.1"
    assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
    runc = runtime["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True
    assert runtime["default_runtime_name"] == "runc"


def test_pause_image_follows_the_version_and_the_image_repository(spec):
    node = nodes(spec)["dev-general-0"]
    for version, pause in (("1.31.4", "3.10"), ("1.33.1", "3.10"), ("1.34.2", "3.10.1"), ("1.36.5", "3.10.2"), ("1.37.2", "3.10.2")):
        cluster = spec.cluster.model_copy(update={"kubernetes_version": version, "image_repository": "mirror.example.com/k8s/"})
        sandbox = containerd_toml(NodeBootstrap(cluster, node.group, node.index, node.endpoint, HINTS))
        assert sandbox["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == f"mirror.example.com/k8s/pause:{pause}"


def test_every_minor_the_config_accepts_has_its_pause_image():
    """The stack validation refuses versions outside MIN..MAX_KUBERNETES; inside, the bootstrap must render."""
    accepted = [f"1.{minor}" for minor in range(MIN_KUBERNETES[1], MAX_KUBERNETES[1] + 1)]
    assert MIN_KUBERNETES[0] == MAX_KUBERNETES[0] == 1
    assert list(PAUSE_VERSIONS) == accepted


def test_an_unknown_minor_is_a_clear_error(spec):
    node = nodes(spec)["dev-general-0"]
    cluster = spec.cluster.model_copy(update={"kubernetes_version": "1.99.0"})
    with pytest.raises(ValueError, match=r"Kubernetes 1\.99\.0: the pause image kubeadm 1\.99 expects is not known"):
        render_cloud_config(NodeBootstrap(cluster, node.group, node.index, node.endpoint, HINTS), PKI)


def test_kube_vip_only_when_the_control_plane_announces_the_address(spec):
    vip = ClusterEndpoint("10.20.0.2", "10.20.0.2", announce=True)
    init = files(nodes(spec, vip)["dev-cp-0"])
    pod = yaml.safe_load(init["/etc/hybrid-infra/kube-vip.yaml"]["content"])
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["address"] == "10.20.0.2" and env["vip_arp"] == "true"
    assert pod["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/super-admin.conf"
    join = files(nodes(spec, vip)["dev-cp-1"])
    assert "/etc/kubernetes/admin.conf" in join["/etc/hybrid-infra/kube-vip.yaml"]["content"]
    assert "/etc/hybrid-infra/kube-vip.yaml" not in files(nodes(spec, vip)["dev-general-0"])
    assert "/etc/hybrid-infra/kube-vip.yaml" not in files(nodes(spec)["dev-cp-0"])


def kube_vip_env(spec) -> dict[str, str]:
    vip = ClusterEndpoint("10.20.0.2", "10.20.0.2", announce=True)
    pod = yaml.safe_load(files(nodes(spec, vip)["dev-cp-0"])["/etc/hybrid-infra/kube-vip.yaml"]["content"])
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


def test_kube_vip_holds_its_lease_long_enough_for_a_slow_api(spec):
    """5/3/1 s moved the address whenever the API answered slowly; Cluster API's vSphere provider uses 15/10/2."""
    env = kube_vip_env(spec)
    assert (env["vip_leaseduration"], env["vip_renewdeadline"], env["vip_retryperiod"]) == ("15", "10", "2")
    lease = {"durationSeconds": 30, "renewDeadlineSeconds": 20, "retryPeriodSeconds": 4}
    config = load_dev_config()
    config["hybrid-infra:cluster"]["endpoint"] = {"type": "vip", "kubeVipLease": lease}
    env = kube_vip_env(parse_stack_config(config))
    assert (env["vip_leaseduration"], env["vip_renewdeadline"], env["vip_retryperiod"]) == ("30", "20", "4")


def test_a_lease_leader_election_refuses_is_one_line():
    config = load_dev_config()
    config["hybrid-infra:cluster"]["endpoint"] = {
        "type": "vip", "kubeVipLease": {"durationSeconds": 10, "renewDeadlineSeconds": 10, "retryPeriodSeconds": 2}
    }
    with pytest.raises(ConfigError) as error:
        parse_stack_config(config)
    assert error.value.problems == [
        "cluster.endpoint.kubeVipLease: durationSeconds 10, renewDeadlineSeconds 10 and retryPeriodSeconds 2 are not "
        "allowed; the lease must outlast the renew deadline, and the deadline 1.2 retry periods"
    ]


# --- the bootstrap script ------------------------------------------------------------------


def script(node: NodeBootstrap) -> str:
    entry = files(node)[BOOTSTRAP_SCRIPT]
    assert entry["encoding"] == "gz+b64"
    return gzip.decompress(base64.b64decode(entry["content"])).decode()


def test_bootstrap_scripts_pass_shellcheck(spec, tmp_path):
    shellcheck = require_tool("shellcheck")
    for name in ("dev-cp-0", "dev-cp-1", "dev-general-0"):
        path = tmp_path / f"{name}.sh"
        path.write_text(script(nodes(spec)[name]))
        checked = subprocess.run([shellcheck, "--severity=style", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout


STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$HYBRID_INFRA_ROOT/calls.log"
case "$(basename "$0") $1" in
  "curl -fsSL") touch "$3" ;;
  "curl -sS")
    # The API's HTTP status at the endpoint: 200 once it answers, another when api-answers says;
    # nothing for as many probes as api-silent-probes says first.
    silent=$(cat "$HYBRID_INFRA_ROOT/api-silent-probes" 2>/dev/null || echo 0)
    if [ "$silent" -gt 0 ]; then echo $((silent - 1)) >"$HYBRID_INFRA_ROOT/api-silent-probes"; printf 000; exit 7; fi
    if [ ! -e "$HYBRID_INFRA_ROOT/api-answers" ]; then printf 000; exit 7; fi
    status=$(cat "$HYBRID_INFRA_ROOT/api-answers"); printf '%s' "${status:-200}"
    ;;
  "curl -fsS")
    # As curl --fail does: no answer exits 7, an HTTP error status 22.
    [ -e "$HYBRID_INFRA_ROOT/api-answers" ] || exit 7
    status=$(cat "$HYBRID_INFRA_ROOT/api-answers"); [ "${status:-200}" -lt 400 ] || exit 22
    ;;
  "gpg --batch")
    if [ "$2" = --with-colons ]; then
      # The key served at the repository: the pinned one unless a test serves another.
      printf 'pub:-:4096:1:8D81803C0EBFCD88:1487788586:::-:::scESA::::::23::0:\nfpr:::::::::%s:\n' \
        "$(cat "$HYBRID_INFRA_ROOT/served-key" 2>/dev/null || echo 9DC858229FC7DD38854AE2D88D81803C0EBFCD88)"
    else
      touch "$5"
    fi
    ;;
  "kubeadm kubeconfig") echo "apiVersion: v1" ;;
  "kubectl --kubeconfig")
    shift 2
    if [ "$3" = exec ] && grep -qx "$4" "$HYBRID_INFRA_ROOT/dead-pods" 2>/dev/null; then
      echo "error: unable to upgrade connection: container not found" >&2
      exit 1
    fi
    case "$*" in
      *"get pods"*) cat "$HYBRID_INFRA_ROOT/etcd-pods" ;;
      *"member list"*)
        # etcd-members.<n> answers the n-th listing where it exists, etcd-members every other.
        listed=$(( $(cat "$HYBRID_INFRA_ROOT/member-listings" 2>/dev/null || echo 0) + 1 ))
        echo "$listed" > "$HYBRID_INFRA_ROOT/member-listings"
        cat "$HYBRID_INFRA_ROOT/etcd-members.$listed" 2>/dev/null || cat "$HYBRID_INFRA_ROOT/etcd-members"
        ;;
    esac
    ;;
  "kubeadm init"|"kubeadm join")
    [ "$2" != phase ] || exit 0
    manifests="$HYBRID_INFRA_ROOT/etc/kubernetes/manifests"
    if [ "$1" = join ] && [ -n "$(ls -A "$manifests" 2>/dev/null)" ]; then
      echo "[preflight] DirAvailable--etc-kubernetes-manifests: $manifests is not empty" >&2
      exit 1
    fi
    mkdir -p "$HYBRID_INFRA_ROOT/etc/kubernetes"
    count=$(cat "$HYBRID_INFRA_ROOT/kubeadm-failures" 2>/dev/null || echo 0)
    if [ "$count" -gt 0 ]; then
      echo $((count - 1)) > "$HYBRID_INFRA_ROOT/kubeadm-failures"
      if [ "$1" = init ] && [ -e "$HYBRID_INFRA_ROOT/init-fails-after-etcd" ]; then
        # As when the API never answered through the endpoint: etcd ran, kubeconfigs are written.
        mkdir -p "$HYBRID_INFRA_ROOT/var/lib/etcd/member"
        touch "$HYBRID_INFRA_ROOT/etc/kubernetes/kubelet.conf" "$HYBRID_INFRA_ROOT/etc/kubernetes/admin.conf"
      fi
      exit 1
    fi
    touch "$HYBRID_INFRA_ROOT/etc/kubernetes/kubelet.conf" "$HYBRID_INFRA_ROOT/etc/kubernetes/admin.conf"
    ;;
esac
"""
OS_RELEASE = 'NAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nID=ubuntu\n'
STUBBED = ("apt-get", "apt-mark", "curl", "gpg", "kubeadm", "kubectl", "modprobe", "sleep", "swapoff", "sysctl", "systemctl")


@pytest.fixture
def node_root(tmp_path) -> Path:
    """A scratch root with the node's files and stand-ins for the system commands."""
    root = tmp_path / "root"
    for directory in ("etc/apt/sources.list.d", "var/log", "bin"):
        (root / directory).mkdir(parents=True)
    (root / "etc/fstab").write_text("/dev/vda1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n")
    (root / "etc/os-release").write_text(OS_RELEASE)
    (root / "etcd-pods").write_text("etcd-dev-cp-0\n")
    (root / "etcd-members").write_text(member_list(("dev-cp-0", "started", False)))
    for command in STUBBED:
        stub = root / "bin" / command
        stub.write_text(STUB)
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return root


def member_list(*members: tuple[str, str, bool]) -> str:
    """``etcdctl member list --write-out simple`` for (name, status, is learner) members."""
    lines = []
    for index, (name, status, learner) in enumerate(members, start=1):
        peer, client = f"https://10.20.0.{10 + index}:2380", f"https://10.20.0.{10 + index}:2379"
        shown = (name, client) if status == "started" else ("", "")
        lines.append(f"{index:016x}, {status}, {shown[0]}, {peer}, {shown[1]}, {str(learner).lower()}")
    return "".join(line + "\n" for line in lines)


def run_script(
    text: str, root: Path, failures: int = 0, attempts: int | None = None, etcd_attempts: int | None = None
) -> subprocess.CompletedProcess[str]:
    text = text.replace("readonly KUBEADM_RETRY_SECONDS=20", "readonly KUBEADM_RETRY_SECONDS=0")
    if etcd_attempts is not None:
        text = text.replace("readonly ETCD_ATTEMPTS=60", f"readonly ETCD_ATTEMPTS={etcd_attempts}")
    if attempts is not None:
        text = text.replace("readonly KUBEADM_ATTEMPTS=60", f"readonly KUBEADM_ATTEMPTS={attempts}")
    (root / "kubeadm-failures").write_text(str(failures))
    path = root / "bootstrap.sh"
    path.write_text(text)
    env = {**os.environ, "HYBRID_INFRA_ROOT": str(root), "PATH": f"{root / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=60)


def calls(root: Path) -> list[str]:
    log = root / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_script_bootstraps_once_and_a_second_run_changes_nothing(spec, node_root):
    node = nodes(spec)["dev-general-0"]
    place_files(node, node_root)
    text = script(node)
    first = run_script(text, node_root)
    assert first.returncode == 0, first.stderr
    made = calls(node_root)
    assert (
        "apt-get -q -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages "
        "kubelet=1.35.8-1.1 kubeadm=1.35.8-1.1 kubectl=1.35.8-1.1"
    ) in made
    assert "kubeadm join --config " + str(node_root / "etc/hybrid-infra/kubeadm-join.yaml") in made
    assert (node_root / "var/lib/hybrid-infra/bootstrapped").exists()
    installed = (node_root / "etc/containerd/config.toml").read_text()
    assert installed == files(node)[CONTAINERD_CONFIG]["content"]
    assert made.index("systemctl restart containerd") < made.index("systemctl enable kubelet")
    assert "#/swap.img" in (node_root / "etc/fstab").read_text()
    sources = (node_root / "etc/apt/sources.list.d/kubernetes.list").read_text()
    assert "https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /" in sources
    containerd = (node_root / "etc/apt/sources.list.d/containerd.list").read_text()
    assert containerd.endswith("] https://download.docker.com/linux/ubuntu noble stable\n")
    install = (
        "apt-get -q -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages "
        "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold containerd.io=2.3.*"
    )
    assert made.index("curl -fsSL -o " + str(node_root / "etc/apt/keyrings/containerd-apt-keyring.gpg.asc")
                      + " https://download.docker.com/linux/ubuntu/gpg") < made.index(install)
    assert made.index(install) < made.index("systemctl restart containerd")
    assert not [line for line in made if line.startswith("apt-get") and line.split()[-1] == "containerd"], "Ubuntu's 1.x"

    (node_root / "calls.log").unlink()
    before = {k: v for k, v in tree(node_root).items() if not k.startswith("var/log")}
    second = run_script(text, node_root)
    assert second.returncode == 0
    assert calls(node_root) == []
    after = {k: v for k, v in tree(node_root).items() if not k.startswith("var/log")}
    assert after == before
    assert "already bootstrapped" in second.stderr


def test_script_retries_join_until_the_api_answers(spec, node_root):
    node = nodes(spec)["dev-general-1"]
    place_files(node, node_root)
    result = run_script(script(node), node_root, failures=2)
    assert result.returncode == 0, result.stderr
    joins = [c for c in calls(node_root) if c.startswith("kubeadm join")]
    resets = [c for c in calls(node_root) if c.startswith("kubeadm reset")]
    assert (len(joins), len(resets)) == (3, 2)
    assert "attempt 2 of 60 failed" in result.stderr
    assert "attempt 2 of 60 failed" in (node_root / "var/log/hybrid-infra-bootstrap.log").read_text()


def test_script_gives_up_after_a_bounded_number_of_attempts(spec, node_root):
    node = nodes(spec)["dev-general-1"]
    place_files(node, node_root)
    result = run_script(script(node), node_root, failures=100, attempts=4)
    assert result.returncode != 0
    assert len([c for c in calls(node_root) if c.startswith("kubeadm join")]) == 4
    assert "giving up after 4 attempts" in result.stderr
    assert not (node_root / "var/lib/hybrid-infra/bootstrapped").exists()


def place_files(node: NodeBootstrap, root: Path) -> None:
    """What cloud-init writes before it runs the script (the script itself aside)."""
    for entry in cloud_config(node)["write_files"]:
        if entry["path"].startswith("/etc/hybrid-infra/"):
            target = root / entry["path"].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(entry["content"])


def test_control_plane_script_places_the_pki_before_kubeadm(spec, node_root):
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    result = run_script(script(node), node_root)
    assert result.returncode == 0, result.stderr
    placed = node_root / "etc/kubernetes/pki/ca.key"
    assert placed.read_text() == PKI.ca_key
    assert stat.S_IMODE(placed.stat().st_mode) == 0o600
    assert [c.split(" --")[0] for c in calls(node_root) if c.startswith("kubeadm")] == ["kubeadm init"]


def test_a_replaced_first_control_plane_node_joins_the_running_cluster(spec, node_root):
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    (node_root / "api-answers").touch()
    (node_root / "etcd-pods").write_text("etcd-dev-cp-0\netcd-dev-cp-1\n")
    (node_root / "etcd-members").write_text(member_list(("dev-cp-0", "started", False), ("dev-cp-1", "started", False)))
    result = run_script(script(node), node_root)
    assert result.returncode == 0, result.stderr
    assert "joining it instead of initialising" in result.stderr
    assert etcdctl_calls(node_root) == [
        ("etcd-dev-cp-1", "member list --write-out simple"),
        ("etcd-dev-cp-1", "member remove 0000000000000001"),
    ]
    assert [c.split(" --")[0] for c in calls(node_root) if c.startswith("kubeadm")] == ["kubeadm kubeconfig user", "kubeadm join"]
    join = kubeadm_documents(node, "join-control-plane")["JoinConfiguration"]
    assert join["controlPlane"] == {"localAPIEndpoint": {"bindPort": 6443}}


def test_kube_vip_starts_before_init_and_after_a_join(spec, node_root, tmp_path):
    vip = ClusterEndpoint("10.20.0.2", "10.20.0.2", announce=True)
    manifest = node_root / "etc/kubernetes/manifests/kube-vip.yaml"
    for name in ("dev-cp-0", "dev-cp-1"):
        root = tmp_path / name
        shutil.copytree(node_root, root)
        node = nodes(spec, vip)[name]
        place_files(node, root)
        result = run_script(script(node), root)
        assert result.returncode == 0, result.stderr
        announced = root / manifest.relative_to(node_root)
        pod = yaml.safe_load(announced.read_text())
        assert pod["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/admin.conf"


def kubeadm_calls(root: Path) -> list[str]:
    return [c for c in calls(root) if c.startswith("kubeadm")]


def test_a_missing_key_stops_the_control_plane_before_kubeadm(spec, node_root):
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    (node_root / "etc/hybrid-infra/pki/etcd/ca.key").unlink()
    result = run_script(script(node), node_root)
    assert result.returncode != 0
    assert kubeadm_calls(node_root) == []
    assert "etc/hybrid-infra/pki/etcd/ca.key is missing: refusing to let kubeadm make new cluster keys" in result.stderr
    assert not (node_root / "var/lib/hybrid-infra/bootstrapped").exists()


INIT_PHASES_AFTER_CONTROL_PLANE = [
    "upload-config all",
    "mark-control-plane",
    "bootstrap-token --skip-token-print",
    "kubelet-finalize all",
    "addon all",
]


def test_a_failed_init_never_resets_a_control_plane_that_holds_the_cluster(spec, node_root):
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    (node_root / "init-fails-after-etcd").touch()
    result = run_script(script(node), node_root, failures=1)
    assert result.returncode == 0, result.stderr
    config = "--config " + str(node_root / "etc/hybrid-infra/kubeadm-init.yaml")
    assert kubeadm_calls(node_root) == [f"kubeadm init {config} --skip-token-print"] + [
        f"kubeadm init phase {phase} {config}" for phase in INIT_PHASES_AFTER_CONTROL_PLANE
    ]
    assert "kubeadm init failed after etcd started: keeping the cluster" in result.stderr


def test_init_is_reset_and_retried_while_etcd_holds_nothing(spec, node_root):
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    result = run_script(script(node), node_root, failures=1)
    assert result.returncode == 0, result.stderr
    assert [c.split(" --")[0] for c in kubeadm_calls(node_root)] == ["kubeadm init", "kubeadm reset", "kubeadm init"]


def test_a_restarted_bootstrap_finishes_a_half_done_init_instead_of_joining_it(spec, node_root):
    """The script ran until etcd had data, then the node rebooted; its own API now answers at the endpoint."""
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    (node_root / "var/lib/etcd/member").mkdir(parents=True)
    (node_root / "etc/kubernetes").mkdir(parents=True)
    for name in ("admin.conf", "kubelet.conf"):
        (node_root / "etc/kubernetes" / name).touch()
    (node_root / "api-answers").touch()
    result = run_script(script(node), node_root)
    assert result.returncode == 0, result.stderr
    assert [c.split(" --config")[0] for c in kubeadm_calls(node_root)] == [
        f"kubeadm init phase {phase}" for phase in INIT_PHASES_AFTER_CONTROL_PLANE
    ]
    assert "joining it instead" not in result.stderr


def etcdctl_calls(root: Path) -> list[str]:
    """(pod, etcdctl subcommand) of every etcdctl run through kubectl exec."""
    found = []
    for call in calls(root):
        if " exec " in call and " -- etcdctl " in call:
            pod = call.split(" exec ")[1].split()[0]
            found.append((pod, call.split("/healthcheck-client.key ")[-1]))
    return found


def test_a_replacement_control_plane_node_removes_stale_members_before_joining(spec, node_root):
    node = nodes(spec)["dev-cp-1"]
    place_files(node, node_root)
    (node_root / "etcd-pods").write_text("etcd-dev-cp-1\netcd-dev-cp-4\netcd-dev-cp-0\n")
    (node_root / "dead-pods").write_text("etcd-dev-cp-4\n")
    (node_root / "etcd-members").write_text(
        member_list(
            ("dev-cp-0", "started", False),
            ("dev-cp-1", "started", False),  # this node's previous life: its VM is gone
            ("dev-cp-2", "started", False),
            ("dev-cp-4", "started", False),  # a node the cluster no longer has
            ("", "unstarted", True),  # still joining: left alone
        )
    )
    result = run_script(script(node), node_root)
    assert result.returncode == 0, result.stderr
    made = calls(node_root)
    assert (
        f"kubeadm kubeconfig user --config {node_root}/etc/hybrid-infra/kubeadm-credentials.yaml "
        "--client-name hybrid-infra-dev-cp-1 --org kubeadm:cluster-admins --validity-period 2h"
    ) in made
    # The dead node's pod is tried and fails; this node's own old pod is never tried.
    answered = [(pod, command) for pod, command in etcdctl_calls(node_root) if pod != "etcd-dev-cp-4"]
    assert answered == [
        ("etcd-dev-cp-0", "member list --write-out simple"),
        ("etcd-dev-cp-0", "member list --write-out simple"),
        ("etcd-dev-cp-0", "member remove 0000000000000002"),
        ("etcd-dev-cp-0", "member remove 0000000000000004"),
    ]
    assert ("etcd-dev-cp-4", "member remove 0000000000000002") in etcdctl_calls(node_root)
    deletions = [c.split(" delete ")[1] for c in made if " delete node " in c]
    assert deletions == ["node dev-cp-1 --ignore-not-found", "node dev-cp-4 --ignore-not-found"]
    join = made.index("kubeadm join --config " + str(node_root / "etc/hybrid-infra/kubeadm-join.yaml"))
    assert max(made.index(c) for c in made if " delete node " in c) < join
    assert "removing the stale etcd member dev-cp-1 (0000000000000002) and its Node" in result.stderr
    assert not (node_root / "run/hybrid-infra/admin.conf").exists()


def test_a_control_plane_join_stops_when_no_etcd_member_answers(spec, node_root):
    node = nodes(spec)["dev-cp-1"]
    place_files(node, node_root)
    (node_root / "dead-pods").write_text("etcd-dev-cp-0\n")
    result = run_script(script(node), node_root, etcd_attempts=3)
    assert result.returncode != 0
    assert not [c for c in calls(node_root) if c.startswith("kubeadm join")]
    assert "no etcd pod answered: etcdctl member list --write-out simple" in result.stderr
    assert not (node_root / "run/hybrid-infra/admin.conf").exists()


def test_control_plane_nodes_join_one_at_a_time(spec, node_root):
    node = nodes(spec)["dev-cp-2"]
    place_files(node, node_root)
    (node_root / "etcd-members.1").write_text(member_list(("dev-cp-0", "started", False), ("", "unstarted", True)))
    (node_root / "etcd-members.2").write_text(member_list(("dev-cp-0", "started", False), ("dev-cp-1", "started", True)))
    (node_root / "etcd-members").write_text(member_list(("dev-cp-0", "started", False), ("dev-cp-1", "started", False)))
    result = run_script(script(node), node_root)
    assert result.returncode == 0, result.stderr
    waits = "waiting for the etcd member of dev-cp-1 to be started and voting: etcd admits one learner at a time"
    assert result.stderr.count(waits) == 2
    made = calls(node_root)
    listings = [i for i, c in enumerate(made) if "member list" in c]
    join = made.index("kubeadm join --config " + str(node_root / "etc/hybrid-infra/kubeadm-join.yaml"))
    assert len(listings) == 4 and listings[2] < join  # three waits, then the listing for stale members


def test_a_control_plane_node_stops_waiting_for_earlier_members_after_a_bound(spec, node_root):
    node = nodes(spec)["dev-cp-2"]
    place_files(node, node_root)
    result = run_script(script(node), node_root, etcd_attempts=3)
    assert result.returncode == 0, result.stderr
    assert "giving up after 3 attempts: earlier_members_started" in result.stderr
    assert "joining although the earlier control-plane nodes' etcd members are not all voting" in result.stderr
    assert [c.split(" --")[0] for c in calls(node_root) if c.startswith("kubeadm")] == ["kubeadm kubeconfig user", "kubeadm join"]


def test_a_systemd_unit_runs_the_script_until_it_is_done(spec, node_root):
    """cloud-init runs runcmd once; the unit runs the script again after a failure or a reboot."""
    node = nodes(spec)["dev-general-0"]
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str
    unit.read_string(files(node)[f"/etc/systemd/system/{BOOTSTRAP_UNIT}"]["content"])
    assert unit["Unit"]["After"].split() == ["network-online.target", "cloud-final.service"]
    assert unit["Unit"]["Wants"] == "network-online.target"
    # Every boot: cloud-init writes its copies of the user data again, and the script deletes them.
    assert "ConditionPathExists" not in unit["Unit"]
    assert unit["Service"]["Type"] == "oneshot"
    assert unit["Service"]["ExecStart"] == BOOTSTRAP_SCRIPT
    assert (unit["Service"]["Restart"], unit["Service"]["RestartSec"]) == ("on-failure", "30")
    assert unit["Install"]["WantedBy"] == "cloud-init.target"
    # The marker the unit waits for is the one the script leaves.
    place_files(node, node_root)
    assert run_script(script(node), node_root).returncode == 0
    assert (node_root / BOOTSTRAP_MARKER.lstrip("/")).exists()


CLOUD_INIT_COPIES = ("user-data.txt", "user-data.txt.i", "cloud-config.txt")


def cloud_init_instance(root: Path) -> Path:
    """cloud-init's instance directory, linked as /var/lib/cloud/instance, with its copies of the user data."""
    instance = root / "var/lib/cloud/instances/i-0123456789"
    (instance / "scripts").mkdir(parents=True)
    (root / "var/lib/cloud/instance").symlink_to(instance)
    for name in CLOUD_INIT_COPIES:
        (instance / name).write_text(PKI.ca_key)
    (instance / "scripts/runcmd").write_text("systemctl start --no-block hybrid-infra-bootstrap.service\n")
    return instance


def test_a_bootstrapped_node_deletes_cloud_inits_copies_of_the_keys(spec, node_root):
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    instance = cloud_init_instance(node_root)
    result = run_script(script(node), node_root)
    assert result.returncode == 0, result.stderr
    assert [name for name in CLOUD_INIT_COPIES if (instance / name).exists()] == []
    assert (instance / "scripts/runcmd").exists()
    assert not (node_root / "etc/hybrid-infra/pki").exists()
    assert (node_root / "etc/kubernetes/pki/ca.key").read_text() == PKI.ca_key
    assert (node_root / "etc/kubernetes/pki/etcd/ca.key").read_text() == PKI.etcd_ca_key
    assert not any((node_root / "etc/hybrid-infra" / name).exists() for name in ("kubeadm-init.yaml", "kubeadm-join.yaml"))


def test_after_a_reboot_the_node_deletes_the_copies_cloud_init_wrote_again(spec, node_root):
    node = nodes(spec)["dev-general-0"]
    place_files(node, node_root)
    instance = cloud_init_instance(node_root)
    assert run_script(script(node), node_root).returncode == 0
    for name in CLOUD_INIT_COPIES:  # cloud-init's Init.update at the next boot
        (instance / name).write_text(PKI.bootstrap_token)
    (node_root / "calls.log").unlink()
    again = run_script(script(node), node_root)
    assert again.returncode == 0, again.stderr
    assert [name for name in CLOUD_INIT_COPIES if (instance / name).exists()] == []
    assert calls(node_root) == []


def test_a_failed_bootstrap_keeps_the_key_material_for_the_next_run(spec, node_root):
    node = nodes(spec)["dev-cp-1"]
    place_files(node, node_root)
    instance = cloud_init_instance(node_root)
    result = run_script(script(node), node_root, failures=100, attempts=2)
    assert result.returncode != 0
    assert [name for name in CLOUD_INIT_COPIES if (instance / name).exists()] == list(CLOUD_INIT_COPIES)
    assert (node_root / "etc/hybrid-infra/pki/ca.key").read_text() == PKI.ca_key


PROVIDER_ID_TEMPLATE = "example:///{{ v1.availability_zone }}/{{ v1.instance_id }}"


def with_provider_id(node: NodeBootstrap) -> NodeBootstrap:
    hints = PlatformHints(True, 2 * DEFAULT_USER_DATA_TARGET, provider_id=PROVIDER_ID_TEMPLATE)
    return NodeBootstrap(node.cluster, node.group, node.index, node.endpoint, hints)


def unit_service(node: NodeBootstrap) -> configparser.SectionProxy:
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str
    unit.read_string(files(node)[f"/etc/systemd/system/{BOOTSTRAP_UNIT}"]["content"])
    return unit["Service"]


def test_no_provider_id_without_the_hint(spec):
    for name in ("dev-cp-0", "dev-general-0"):
        node = nodes(spec)[name]
        registration = next(iter(kubeadm_documents(node).values()))["nodeRegistration"]
        assert "provider-id" not in {a["name"] for a in registration["kubeletExtraArgs"]}
        assert PROVIDER_ID_SCRIPT not in files(node)
        assert "ExecStartPre" not in unit_service(node)


def test_a_provider_id_hint_is_filled_in_before_kubeadm_reads_the_configuration(spec, tmp_path):
    for name in ("dev-cp-0", "dev-cp-1", "dev-general-0"):
        node = with_provider_id(nodes(spec)[name])
        for step in ("init", "join-control-plane") if node.step == "init" else (node.step,):
            registration = next(iter(kubeadm_documents(node, step).values()))["nodeRegistration"]
            args = {a["name"]: a["value"] for a in registration["kubeletExtraArgs"]}
            assert args["provider-id"] == PROVIDER_ID_PLACEHOLDER, (name, step)
        assert files(node)[PROVIDER_ID_SCRIPT]["permissions"] == "0755"
        # Before the bootstrap script, and retried with it until cloud-init answers.
        assert unit_service(node)["ExecStartPre"] == PROVIDER_ID_SCRIPT
        path = tmp_path / f"{name}.yaml"
        path.write_text(render_cloud_config(node, PKI))
        checked = cloud_init_schema(path)
        assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}"


def test_the_provider_id_script_passes_shellcheck(spec, tmp_path):
    shellcheck = require_tool("shellcheck")
    path = tmp_path / "provider-id.sh"
    path.write_text(files(with_provider_id(nodes(spec)["dev-cp-0"]))[PROVIDER_ID_SCRIPT]["content"])
    checked = subprocess.run([shellcheck, "--severity=style", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def run_provider_id_script(node: NodeBootstrap, root: Path, answer: str) -> subprocess.CompletedProcess[str]:
    """The script with ``cloud-init query --format`` answering ``answer`` (the template rendered on a node)."""
    stub = root / "bin" / "cloud-init"
    stub.write_text(f'#!/usr/bin/env bash\necho "cloud-init $*" >> "$HYBRID_INFRA_ROOT/calls.log"\necho {answer!r}\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    path = root / "provider-id.sh"
    path.write_text(files(node)[PROVIDER_ID_SCRIPT]["content"])
    env = {**os.environ, "HYBRID_INFRA_ROOT": str(root), "PATH": f"{root / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=60)


def test_the_provider_id_script_fills_every_configuration_once(spec, node_root):
    node = with_provider_id(nodes(spec)["dev-cp-0"])
    place_files(node, node_root)
    result = run_provider_id_script(node, node_root, "example:///zone-b/i-0123456789abcdef0")
    assert result.returncode == 0, result.stderr
    assert calls(node_root) == [f"cloud-init query --format {PROVIDER_ID_TEMPLATE}"]
    for step in ("init", "join-control-plane"):
        text = (node_root / KUBEADM_CONFIGS[step].lstrip("/")).read_text()
        registration = next(yaml.safe_load_all(text))["nodeRegistration"]
        args = {a["name"]: a["value"] for a in registration["kubeletExtraArgs"]}
        assert args["provider-id"] == "example:///zone-b/i-0123456789abcdef0", step
    # Filled in, or deleted after the bootstrap: later boots leave it at that without asking cloud-init.
    assert run_provider_id_script(node, node_root, "example:///zone-b/i-other").returncode == 0
    assert len(calls(node_root)) == 1


@pytest.mark.parametrize("answer", ["", "example:///CI_MISSING_JINJA_VAR/v1.availability_zone/i-1", "a|b"])
def test_the_provider_id_script_fails_without_a_usable_id(spec, node_root, answer):
    node = with_provider_id(nodes(spec)["dev-general-0"])
    place_files(node, node_root)
    result = run_provider_id_script(node, node_root, answer)
    assert result.returncode != 0
    assert "no provider ID in cloud-init's instance data" in result.stderr
    assert PROVIDER_ID_PLACEHOLDER in (node_root / KUBEADM_CONFIGS["join-worker"].lstrip("/")).read_text()


def test_a_repository_key_without_the_pinned_fingerprint_stops_the_bootstrap(spec, node_root):
    node = nodes(spec)["dev-general-0"]
    place_files(node, node_root)
    (node_root / "served-key").write_text("0123456789ABCDEF0123456789ABCDEF01234567")
    result = run_script(script(node), node_root)
    assert result.returncode != 0
    assert "refusing the key at https://download.docker.com/linux/ubuntu/gpg: fingerprints 0123456789ABCDEF" in result.stderr
    assert not [line for line in calls(node_root) if "containerd.io=" in line or "kubeadm=" in line]
    assert not (node_root / "etc/apt/keyrings/containerd-apt-keyring.gpg").exists()


def test_a_preinstalled_image_needs_containerd_2(spec, node_root):
    cluster = spec.cluster.model_copy(update={"packages": spec.cluster.packages.model_copy(update={"preinstalled": True})})
    node = nodes(spec)["dev-general-0"]
    node = NodeBootstrap(cluster, node.group, node.index, node.endpoint, HINTS)
    place_files(node, node_root)
    for name, answer in (("kubeadm", "v1.35.8"), ("containerd", "containerd github.com/containerd/containerd 1.7.28 abc")):
        (node_root / "bin" / name).write_text(f"#!/usr/bin/env bash\necho '{answer}'\n")
        (node_root / "bin" / name).chmod(0o755)
    result = run_script(script(node), node_root)
    assert result.returncode != 0
    assert "the image has containerd 1.x, the cluster needs containerd 2" in result.stderr


GPG_HARNESS = """set -euo pipefail
ROOT=$1
CONTAINERD_REPOSITORY=https://repository.example
CONTAINERD_KEY_FINGERPRINT=$2
log() { echo "$*" >&2; }
curl() { cp "$SERVED_KEY" "$3"; }
source "$FUNCTIONS"
add_containerd_repository
"""


@pytest.fixture(scope="module")
def signing_keys(tmp_path_factory) -> dict[str, tuple[str, Path]]:
    """Two real OpenPGP keys, made by gpg: fingerprint and armored public key of each."""
    gpg = require_tool("gpg")
    home = tmp_path_factory.mktemp("gnupg")
    keys = {}
    for name in ("pinned", "other"):
        subprocess.run(
            [gpg, "--homedir", str(home), "--batch", "--passphrase", "", "--quick-gen-key", f"{name}@example.invalid", "ed25519", "sign", "never"],
            check=True, capture_output=True,
        )
        listed = subprocess.run([gpg, "--homedir", str(home), "--with-colons", "--list-keys", f"{name}@example.invalid"],
                                check=True, capture_output=True, text=True).stdout
        fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))
        armored = home / f"{name}.asc"
        armored.write_bytes(subprocess.run([gpg, "--homedir", str(home), "--armor", "--export", f"{name}@example.invalid"],
                                           check=True, capture_output=True).stdout)
        keys[name] = (fingerprint, armored)
    return keys


def add_repository(tmp_path: Path, served: Path, fingerprint: str) -> subprocess.CompletedProcess[str]:
    root = tmp_path / "root"
    (root / "etc/apt/sources.list.d").mkdir(parents=True)
    (root / "etc/os-release").write_text(OS_RELEASE)
    functions = resources.files("hybrid_infra.bootstrap").joinpath("node-functions.sh")
    env = {**os.environ, "SERVED_KEY": str(served), "FUNCTIONS": str(functions), "GNUPGHOME": str(tmp_path / "gnupg")}
    (tmp_path / "gnupg").mkdir(mode=0o700)
    return subprocess.run(["bash", "-c", GPG_HARNESS, "harness", str(root), fingerprint], capture_output=True, text=True, env=env, timeout=60)


def test_gpg_reads_the_fingerprint_the_repository_check_compares(tmp_path, signing_keys):
    """The fingerprint check with the real gpg: the pinned key alone passes, another key or a second key beside
    it is refused, and nothing is trusted then."""
    pinned, other = signing_keys["pinned"], signing_keys["other"]
    accepted = add_repository(tmp_path / "pinned", pinned[1], pinned[0])
    assert accepted.returncode == 0, accepted.stderr
    keyring = tmp_path / "pinned/root/etc/apt/keyrings/containerd-apt-keyring.gpg"
    assert keyring.stat().st_size > 0
    assert f"signed-by={keyring}] https://repository.example noble stable" in (
        tmp_path / "pinned/root/etc/apt/sources.list.d/containerd.list").read_text()
    refused = add_repository(tmp_path / "other", other[1], pinned[0])
    assert refused.returncode != 0 and f"fingerprints {other[0]}, expected {pinned[0]} alone" in refused.stderr
    both = tmp_path / "both.asc"
    both.write_bytes(pinned[1].read_bytes() + other[1].read_bytes())
    smuggled = add_repository(tmp_path / "both", both, pinned[0])
    assert smuggled.returncode != 0
    for case in ("other", "both"):
        assert not (tmp_path / case / "root/etc/apt/keyrings/containerd-apt-keyring.gpg").exists()


SYSTEM_UNITS = Path("/lib/systemd/system")


def enable(directory: Path, unit: Path) -> None:
    """What `systemctl enable` does: a link in the .wants directory of each target the unit names."""
    parsed = configparser.ConfigParser(interpolation=None, strict=False)
    parsed.optionxform = str
    parsed.read_string(unit.read_text())
    for target in parsed.get("Install", "WantedBy", fallback="").split():
        wants = directory / f"{target}.wants"
        wants.mkdir(exist_ok=True)
        (wants / unit.name).symlink_to(unit)


def ordering_problems(node_units: dict[str, str], directory: Path) -> str:
    """systemd-analyze verify of the node's units beside the distribution's cloud-init units (Debian's
    package), enabled as on a node: each unit by its [Install] section, cloud-init.target in
    multi-user.target as the cloud-init generator does. The lines about ordering cycles, if any."""
    analyze = require_tool("systemd-analyze")
    require_tool("cloud-init")  # the package whose units these are
    cloud_units = sorted(SYSTEM_UNITS.glob("cloud-*.service"))
    assert cloud_units, f"cloud-init is installed, but its units are not in {SYSTEM_UNITS}"
    directory.mkdir(parents=True)
    for cloud_unit in cloud_units:
        enable(directory, cloud_unit)
    (directory / "multi-user.target.wants").mkdir(exist_ok=True)
    (directory / "multi-user.target.wants" / "cloud-init.target").symlink_to(SYSTEM_UNITS / "cloud-init.target")
    written = []
    for name, content in node_units.items():
        path = directory / name
        path.write_text(content)
        enable(directory, path)
        written.append(str(path))
    result = subprocess.run([analyze, "verify", *written, str(SYSTEM_UNITS / "multi-user.target")], capture_output=True, text=True)
    # Which unit systemd names first in a cycle depends on its hash order: every line of the cycle is kept.
    return "\n".join(
        line for line in (result.stdout + result.stderr).splitlines() if "cycle" in line or "Found dependency on" in line
    )


def node_units(node: NodeBootstrap) -> dict[str, str]:
    return {
        Path(path).name: entry["content"] for path, entry in files(node).items() if path.startswith("/etc/systemd/system/")
    }


def test_no_node_unit_forms_an_ordering_cycle_with_cloud_inits_units(spec, tmp_path):
    for name, node in nodes(spec).items():
        units = node_units(node)
        assert BOOTSTRAP_UNIT in units
        assert ordering_problems(units, tmp_path / name) == "", name


def test_the_ordering_check_sees_a_cycle(spec, tmp_path):
    """The check can fail: the unit as it was, wanted by multi-user.target after cloud-final."""
    units = node_units(nodes(spec)["dev-general-0"])
    units[BOOTSTRAP_UNIT] = units[BOOTSTRAP_UNIT].replace("WantedBy=cloud-init.target", "WantedBy=multi-user.target")
    found = ordering_problems(units, tmp_path / "cycle")
    assert "Found ordering cycle" in found and "hybrid-infra-bootstrap.service/start" in found


@pytest.mark.parametrize("status", ["200", "500", "401", "403"])
def test_a_first_control_plane_node_joins_whenever_the_api_answers_whatever_its_status(spec, node_root, status):
    """A live cluster whose etcd is degraded answers 500; one that refuses the probe 401 or 403: the cluster
    exists, and a replaced first node must never initialise a second one behind the same endpoint."""
    assert_first_node_joins(spec, node_root, status)


def assert_first_node_joins(spec, node_root, status: str, silent_probes: int = 0) -> None:
    """The first control-plane node, rendered to initialise, finds the cluster answering ``status``
    after ``silent_probes`` unanswered probes, and joins it."""
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    (node_root / "api-silent-probes").write_text(str(silent_probes))
    (node_root / "api-answers").write_text(status)
    (node_root / "etcd-pods").write_text("etcd-dev-cp-1\n")
    (node_root / "etcd-members").write_text(member_list(("dev-cp-0", "started", False), ("dev-cp-1", "started", False)))
    result = run_script(script(node), node_root)
    assert result.returncode == 0, result.stderr
    assert "joining it instead of initialising" in result.stderr
    assert "kubeadm init" not in [c.split(" --")[0] for c in kubeadm_calls(node_root)]


def test_a_first_control_plane_node_initialises_when_nothing_answers(spec, node_root):
    node = nodes(spec)["dev-cp-0"]
    place_files(node, node_root)
    result = run_script(script(node), node_root)
    assert result.returncode == 0, result.stderr
    assert [c.split(" --")[0] for c in kubeadm_calls(node_root)][:1] == ["kubeadm init"]
    calls = (node_root / "calls.log").read_text().splitlines()
    assert sum(call.startswith("curl -sS") for call in calls) == ANSWER_ATTEMPTS
    assert calls.count(f"sleep {ANSWER_RETRY_SECONDS}") >= ANSWER_ATTEMPTS - 1


def test_a_first_control_plane_node_joins_a_cluster_that_answers_only_after_a_few_probes(spec, node_root):
    """A load balancer routes to a dead member until its health checks mark it down: the first probes
    go unanswered, a later one reaches a live API server. The node joins."""
    assert_first_node_joins(spec, node_root, "403", silent_probes=ANSWER_ATTEMPTS - 1)
