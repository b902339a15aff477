"""Pure: kubeadm ``v1beta4`` documents for init, control-plane join and worker join."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .. import yamltext
from ..config.cluster import POOL_LABEL, VERSION_LABEL, ClusterSpec
from ..topology import NodeGroup, PlatformHints

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
ENCRYPTION_CONFIG = "/etc/kubernetes/encryption/config.yaml"
AUDIT_POLICY = "/etc/kubernetes/audit/policy.yaml"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"
TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"
TOKEN_DESCRIPTION = "hybrid-infra join token (managed by Pulumi)"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
PROVIDER_ID_PLACEHOLDER = "@HYBRID_INFRA_PROVIDER_ID@"
"""Stands for the node's provider ID in its kubeadm configuration until the node fills it in at boot."""

# kubeadm's encryptionAlgorithm names for the keys it makes itself (API server, etcd, kubelet client).
_ENCRYPTION_ALGORITHM = {
    "ecdsa-p256": "ECDSA-P256",
    "rsa-2048": "RSA-2048",
    "rsa-3072": "RSA-3072",
    "rsa-4096": "RSA-4096",
}

Step = Literal["init", "join-control-plane", "join-worker"]

# kubeadm's PauseVersion for each Kubernetes minor the project accepts, from
# cmd/kubeadm/app/constants/constants.go of k8s.io/kubernetes at v1.31.14, v1.32.13, v1.33.13, v1.34.4,
# v1.35.8, v1.36.5 and v1.37.2 (the module proxy's source of each tag).
PAUSE_VERSIONS = {
    "1.31": "3.10",
    "1.32": "3.10",
    "1.33": "3.10",
    "1.34": "3.10.1",
    "1.35": "3.10.1",
    "1.36": "3.10.2",
    "1.37": "3.10.2",
}

# v1beta4 Timeouts (InitConfiguration and JoinConfiguration carry them; kubeadm's defaults in the
# comments), from cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go. Every phase after wait-control-plane
# talks to the API through the endpoint, and a load balancer marks the first control-plane node healthy
# only 20-30 s after its /readyz first passes; a first boot on a small VM also pulls every image. So
# each wait gets several times kubeadm's default. tlsBootstrap and discovery concern joining nodes only,
# upgradeManifests upgrades only.
_CONTROL_PLANE_TIMEOUTS = {
    "controlPlaneComponentHealthCheck": "10m",  # default 4m
    "etcdAPICall": "5m",  # default 2m
}
_NODE_TIMEOUTS = {
    "kubeletHealthCheck": "10m",  # default 4m
    "kubernetesAPICall": "5m",  # default 1m
}
_JOIN_TIMEOUTS = {
    "tlsBootstrap": "15m",  # default 5m
    "discovery": "15m",  # default 5m
}
TIMEOUTS: dict[Step, dict[str, str]] = {
    "init": {**_CONTROL_PLANE_TIMEOUTS, **_NODE_TIMEOUTS},
    "join-control-plane": {**_CONTROL_PLANE_TIMEOUTS, **_NODE_TIMEOUTS, **_JOIN_TIMEOUTS},
    "join-worker": {**_NODE_TIMEOUTS, **_JOIN_TIMEOUTS},
}


@dataclass(frozen=True)
class ClusterEndpoint:
    """The API endpoint as the bootstrap sees it: plain addresses, no platform."""

    address: str
    """What nodes dial (load balancer VIP or virtual IP)."""
    public_address: str
    """What clients outside the node network dial; may equal ``address``."""
    port: int = 6443
    announce: bool = False
    """The control plane itself announces ``address`` (kube-vip); no load balancer does."""

    @property
    def host_port(self) -> str:
        return f"{self.address}:{self.port}"


def bootstrap_step(group: NodeGroup, index: int, initialised: bool = False) -> Step:
    """The first control-plane node initialises the cluster while it does not exist yet (``initialised``:
    what Pulumi's state says); every other node joins it, and so does the first once the cluster exists."""
    if group.role == "control-plane":
        return "init" if index == 0 and not initialised else "join-control-plane"
    return "join-worker"


def pause_image(cluster: ClusterSpec) -> str:
    """The sandbox image kubeadm expects for the cluster's version, from the cluster's image repository."""
    minor = ".".join(cluster.kubernetes_version.split(".")[:2])
    if minor not in PAUSE_VERSIONS:
        raise ValueError(
            f"Kubernetes {cluster.kubernetes_version}: the pause image kubeadm {minor} expects is not known; "
            f"known minors: {', '.join(PAUSE_VERSIONS)} (add its PauseVersion from kubeadm's constants.go)"
        )
    return f"{cluster.image_repository.rstrip('/')}/pause:{PAUSE_VERSIONS[minor]}"


@functools.lru_cache(maxsize=16)
def ca_cert_hash(ca_cert_pem: str) -> str:
    """kubeadm's discovery hash: sha256 of the CA certificate's SubjectPublicKeyInfo (once per CA: every
    node's configuration carries it)."""
    certificate = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def _args(values: dict[str, str]) -> list[dict[str, str]]:
    """v1beta4 writes extra arguments as a list of name/value pairs."""
    return [{"name": name, "value": value} for name, value in values.items()]


def node_registration(group: NodeGroup, index: int, hints: PlatformHints, version: str) -> dict[str, Any]:
    kubelet_args = {}
    if hints.cloud_provider_external:
        kubelet_args["cloud-provider"] = "external"
    if hints.provider_id is not None:
        kubelet_args["provider-id"] = PROVIDER_ID_PLACEHOLDER
    # The version label is what the upgrade Plans select nodes by: those not yet at the asked version.
    labels = {**group.labels, POOL_LABEL: group.name, VERSION_LABEL: version}
    kubelet_args["node-labels"] = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    taints = [{"key": t.key, **({"value": t.value} if t.value else {}), "effect": t.effect} for t in group.taints]
    if group.role == "control-plane":
        taints.insert(0, CONTROL_PLANE_TAINT)
    return {
        "name": group.node_name(index),
        "criSocket": CRI_SOCKET,
        "taints": taints,
        "kubeletExtraArgs": _args(kubelet_args),
    }


def cluster_configuration(cluster: ClusterSpec, endpoint: ClusterEndpoint) -> dict[str, Any]:
    sans = list(dict.fromkeys([endpoint.address, endpoint.public_address]))
    return {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": cluster.name,
        "kubernetesVersion": f"v{cluster.kubernetes_version}",
        "controlPlaneEndpoint": endpoint.host_port,
        "imageRepository": cluster.image_repository,
        "encryptionAlgorithm": _ENCRYPTION_ALGORITHM[cluster.pki.key_algorithm],
        "networking": {
            "podSubnet": cluster.network.pod_cidr,
            "serviceSubnet": cluster.network.service_cidr,
            "dnsDomain": "cluster.local",
        },
        "apiServer": {
            "certSANs": sans,
            "extraArgs": _args(
                {
                    "encryption-provider-config": ENCRYPTION_CONFIG,
                    "audit-policy-file": AUDIT_POLICY,
                    "audit-log-path": f"{AUDIT_LOG_DIR}/audit.log",
                    "audit-log-maxage": "30",
                    "audit-log-maxbackup": "10",
                    "audit-log-maxsize": "100",
                    "profiling": "false",
                }
            ),
            "extraVolumes": [
                _host_path("encryption", "/etc/kubernetes/encryption", read_only=True),
                _host_path("audit-policy", "/etc/kubernetes/audit", read_only=True),
                _host_path("audit-log", AUDIT_LOG_DIR, read_only=False, path_type="DirectoryOrCreate"),
            ],
        },
        "controllerManager": {"extraArgs": _args({"profiling": "false"})},
        "scheduler": {"extraArgs": _args({"profiling": "false"})},
    }


def credentials_configuration(cluster: ClusterSpec, endpoint: ClusterEndpoint) -> str:
    """What ``kubeadm kubeconfig user --config`` needs to sign admin credentials on a joining control-plane
    node: the endpoint the kubeconfig points at and the key algorithm; the CA comes from certificatesDir."""
    document = {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": cluster.name,
        "kubernetesVersion": f"v{cluster.kubernetes_version}",
        "controlPlaneEndpoint": endpoint.host_port,
        "encryptionAlgorithm": _ENCRYPTION_ALGORITHM[cluster.pki.key_algorithm],
    }
    return yamltext.dump(document, sort_keys=False)


def _host_path(name: str, path: str, read_only: bool, path_type: str = "Directory") -> dict[str, Any]:
    return {"name": name, "hostPath": path, "mountPath": path, "readOnly": read_only, "pathType": path_type}


def kubelet_configuration() -> dict[str, Any]:
    return {
        "apiVersion": KUBELET_API,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "rotateCertificates": True,
        "serverTLSBootstrap": False,
        "protectKernelDefaults": True,
        "readOnlyPort": 0,
    }


def render(
    cluster: ClusterSpec,
    group: NodeGroup,
    index: int,
    endpoint: ClusterEndpoint,
    bootstrap_token: str,
    discovery_hash: str,
    hints: PlatformHints,
    step: Step | None = None,
) -> str:
    """The kubeadm configuration of one node for ``step`` (default: the node's own), as YAML documents."""
    step = step or bootstrap_step(group, index)
    registration = node_registration(group, index, hints, cluster.kubernetes_version)
    if step == "init":
        documents = [
            {
                "apiVersion": KUBEADM_API,
                "kind": "InitConfiguration",
                # The token lives for the first boot only; Pulumi takes its Secret over and issues a
                # new one (with its own expiry) whenever the set of nodes changes.
                "bootstrapTokens": [
                    {
                        "token": bootstrap_token,
                        "ttl": f"{cluster.join_token_ttl_minutes}m0s",
                        "usages": ["signing", "authentication"],
                        "groups": [TOKEN_GROUP],
                        "description": TOKEN_DESCRIPTION,
                    }
                ],
                "nodeRegistration": registration,
                "timeouts": TIMEOUTS[step],
            },
            cluster_configuration(cluster, endpoint),
            kubelet_configuration(),
        ]
    else:
        join: dict[str, Any] = {
            "apiVersion": KUBEADM_API,
            "kind": "JoinConfiguration",
            "discovery": {
                "bootstrapToken": {
                    "apiServerEndpoint": endpoint.host_port,
                    "token": bootstrap_token,
                    "caCertHashes": [discovery_hash],
                }
            },
            "nodeRegistration": registration,
            "timeouts": TIMEOUTS[step],
        }
        if step == "join-control-plane":
            # The CA keys are placed on the node beforehand, so no certificate key is needed.
            join["controlPlane"] = {"localAPIEndpoint": {"bindPort": endpoint.port}}
        documents = [join]
    return yamltext.dump_all(documents, sort_keys=False)
