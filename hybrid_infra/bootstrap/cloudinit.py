"""Pure: the cloud-config each node boots with, and the one script that bootstraps it.

Control-plane nodes receive the CA keys (files of mode 0600), or, where the platform keeps them
(``PlatformHints.key_fetch``), the platform's program that fetches them before the bootstrap; workers
receive only the join token and the CA's discovery hash. Every node gets a complete containerd configuration (systemd cgroups,
registry mirrors, kubeadm's pause image), the kernel modules and sysctls Kubernetes needs, its
kubeadm configuration, and ``/usr/local/sbin/hybrid-infra-bootstrap`` with the systemd unit that
runs it until it is done, across failures and reboots.
"""

from __future__ import annotations

import base64
import functools
import gzip
import shlex
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .. import yamltext
from ..config.cluster import ClusterSpec
from ..topology import NodeGroup, PlatformHints
from . import kubeadm
from .kubeadm import AUDIT_POLICY, ENCRYPTION_CONFIG, PROVIDER_ID_PLACEHOLDER, ClusterEndpoint
from .pki import ADMIN_GROUP, PkiMaterial

BOOTSTRAP_SCRIPT = "/usr/local/sbin/hybrid-infra-bootstrap"
BOOTSTRAP_MARKER = "/var/lib/hybrid-infra/bootstrapped"
"""The script leaves it when the node is done; the unit runs only while it is absent."""
BOOTSTRAP_UNIT = "hybrid-infra-bootstrap.service"
KUBEADM_CONFIGS = {
    "init": "/etc/hybrid-infra/kubeadm-init.yaml",
    "join-control-plane": "/etc/hybrid-infra/kubeadm-join.yaml",
    "join-worker": "/etc/hybrid-infra/kubeadm-join.yaml",
}
KUBEADM_CREDENTIALS_CONFIG = "/etc/hybrid-infra/kubeadm-credentials.yaml"
PROVIDER_ID_SCRIPT = "/usr/local/sbin/hybrid-infra-provider-id"
"""With a provider ID hint: fills the node's provider ID into its kubeadm configurations before the bootstrap."""
KEY_FETCH_SCRIPT = "/usr/local/sbin/hybrid-infra-fetch-keys"
"""With a key-fetch hint: writes a control-plane node's key files from where the platform keeps them."""
PKI_SOURCE = "/etc/hybrid-infra/pki"
"""Where a control-plane node's CA and service-account keys wait for the bootstrap, which deletes them."""
CONTAINERD_CONFIG = "/etc/hybrid-infra/containerd.toml"
"""Installed as /etc/containerd/config.toml by the script, once the package is in place."""
DEFAULT_USER_DATA_TARGET = 16 * 1024
"""With the default ECDSA keys every cloud-config stays under EC2's 16 KiB; RSA keys need more room."""

KUBEADM_ATTEMPTS = {"init": 5, "join-control-plane": 60, "join-worker": 60}
KUBEADM_RETRY_SECONDS = 20
ETCD_ATTEMPTS = 60
"""How often a joining control-plane node asks etcd (every KUBEADM_RETRY_SECONDS) before it goes ahead."""
ANSWER_ATTEMPTS, ANSWER_RETRY_SECONDS = 10, 5
"""How often, and how far apart, a first control-plane node rendered to initialise asks the endpoint
before it concludes that no cluster answers: 45 s, longer than the slowest of the platforms' load
balancers takes to mark a dead member down (3 failed checks 10 s apart), while it may still route
the probe to that member and leave it unanswered."""

SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    # Values the kubelet checks when protectKernelDefaults is on.
    "vm.overcommit_memory": "1",
    "vm.panic_on_oom": "0",
    "kernel.panic": "10",
    "kernel.panic_on_oops": "1",
    "kernel.keys.root_maxkeys": "1000000",
    "kernel.keys.root_maxbytes": "25000000",
}

_UPSTREAM = {"docker.io": "https://registry-1.docker.io"}


@dataclass(frozen=True)
class NodeBootstrap:
    """Everything a node's cloud-config depends on, apart from the PKI."""

    cluster: ClusterSpec
    group: NodeGroup
    index: int
    endpoint: ClusterEndpoint
    hints: PlatformHints
    initialised: bool = False
    """The cluster exists (Pulumi's state says so): the first control-plane node joins too."""

    @property
    def name(self) -> str:
        return self.group.node_name(self.index)

    @property
    def step(self) -> kubeadm.Step:
        return kubeadm.bootstrap_step(self.group, self.index, self.initialised)


def _file(path: str, content: str, permissions: str = "0644") -> dict[str, Any]:
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}


def _compressed_file(path: str, content: str, permissions: str) -> dict[str, Any]:
    """A file cloud-init unpacks itself; for large texts that hold no secret (mtime 0: deterministic)."""
    packed = base64.b64encode(gzip.compress(content.encode(), mtime=0)).decode()
    return {**_file(path, packed, permissions), "encoding": "gz+b64"}


def bootstrap_script(node: NodeBootstrap) -> str:
    cluster = node.cluster
    settings = {
        "STEP": node.step,
        "NODE_NAME": node.name,
        "KUBERNETES_VERSION": cluster.kubernetes_version,
        "PACKAGE_REPOSITORY": cluster.packages.repository.rstrip("/"),
        "PACKAGE_REVISION": cluster.packages.revision,
        "PREINSTALLED": "true" if cluster.packages.preinstalled else "false",
        **containerd_settings(cluster),
        "API_ENDPOINT": node.endpoint.host_port,
        # Only a joining control-plane node reads it; a worker's cloud-config must not change with it.
        "CONTROL_PLANE_NODES": " ".join(NodeGroup.control_plane(cluster).node_names) if node.group.role == "control-plane" else "",
        "ADMIN_GROUP": ADMIN_GROUP,
        "ETCD_ATTEMPTS": str(ETCD_ATTEMPTS),
        "ANSWER_ATTEMPTS": str(ANSWER_ATTEMPTS),
        "ANSWER_RETRY_SECONDS": str(ANSWER_RETRY_SECONDS),
        "KUBEADM_ATTEMPTS": str(KUBEADM_ATTEMPTS[node.step]),
        "KUBEADM_RETRY_SECONDS": str(KUBEADM_RETRY_SECONDS),
    }
    return shell_script("node-bootstrap.sh", settings)


FUNCTIONS = "node-functions.sh"


def shell_script(source_file: str, settings: dict[str, str]) -> str:
    """One of this package's scripts, its settings first as read-only variables, then the shared functions.

    The comments are for readers of the source; the node's copy leaves them out to fit in the user data.
    """
    header = "".join(f"readonly {key}={shlex.quote(value)}\n" for key, value in settings.items())
    return "#!/usr/bin/env bash\nset -euo pipefail\n\n" + header + _script_body(source_file)


@functools.cache
def _script_body(source_file: str) -> str:
    """A script's shared functions and own body: read and stripped once, not once per node."""
    sources = [resources.files(__package__).joinpath(name).read_text() for name in (FUNCTIONS, source_file)]
    return "".join(
        line for source in sources for line in source.splitlines(keepends=True) if not line.lstrip().startswith("#")
    )


def provider_id_script(node: NodeBootstrap) -> str:
    """Replaces the provider ID placeholder of the kubeadm configurations with what ``cloud-init query``
    renders from the hint's template (cloudinit/cmd/query.py ``--format``; an undefined variable renders
    as ``CI_MISSING_JINJA_VAR/<name>``, cloudinit/templater.py, cloud-init 25.1.4). It runs before the
    bootstrap script at every boot and does nothing once no configuration holds the placeholder."""
    assert node.hints.provider_id is not None
    configs = " ".join(f'"$ROOT{KUBEADM_CONFIGS[step]}"' for step in ("init", "join-worker"))
    return "\n".join(
        [
            "#!/usr/bin/env bash",
            "set -euo pipefail",
            'readonly ROOT="${HYBRID_INFRA_ROOT:-}"',
            f"readonly TEMPLATE={shlex.quote(node.hints.provider_id)}",
            f"readonly PLACEHOLDER={shlex.quote(PROVIDER_ID_PLACEHOLDER)}",
            "pending=()",
            f"for config in {configs}; do",
            '  if [ -f "$config" ] && grep -qF "$PLACEHOLDER" "$config"; then',
            '    pending+=("$config")',
            "  fi",
            "done",
            '[ "${#pending[@]}" -gt 0 ] || exit 0',
            'id=$(cloud-init query --format "$TEMPLATE")',
            'case "$id" in',
            '  "" | *CI_MISSING_JINJA_VAR* | *[!A-Za-z0-9:/._-]*)',
            '    echo "hybrid-infra-provider-id: no provider ID in cloud-init\'s instance data: \'$id\'" >&2',
            "    exit 1",
            "    ;;",
            "esac",
            'sed -i "s|$PLACEHOLDER|$id|" "${pending[@]}"',
            "",
        ]
    )


def bootstrap_unit(node: NodeBootstrap) -> str:
    """A oneshot unit rather than runcmd alone, which cloud-init runs once per instance: after a failure
    (Restart=on-failure, allowed for oneshot since systemd 236) or a reboot midway, the script runs again
    until its marker exists. Oneshot has no start timeout by default, so a slow bootstrap is not killed;
    StartLimitIntervalSec=0 keeps restarting however long the API takes. Started from runcmd without
    blocking, it begins once cloud-init is done with the node (cloud-final, apt included). It runs on
    every boot, after cloud-init has written its copies of the user data again (Init.update rewrites
    user-data.txt each boot): a bootstrapped node deletes them and stops. With a provider ID hint, the
    ID is filled in first, and a failure to find it is retried like any other.

    Wanted by cloud-init.target, not multi-user.target: cloud-final.service is ordered after
    multi-user.target, so a unit after cloud-final that multi-user.target wants closes an ordering
    cycle, and at the next boot systemd deletes the unit's start job (cloud-init.target, which the
    cloud-init generator enables, comes after both)."""
    fill = [f"ExecStartPre={PROVIDER_ID_SCRIPT}"] if node.hints.provider_id is not None else []
    if node.hints.key_fetch is not None and node.group.role == "control-plane":
        fill.append(f"ExecStartPre={KEY_FETCH_SCRIPT}")
    return "\n".join(
        [
            "[Unit]",
            "Description=Bootstrap this node into the Kubernetes cluster (hybrid-infra)",
            "Wants=network-online.target",
            "After=network-online.target cloud-final.service",
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=oneshot",
            *fill,
            f"ExecStart={BOOTSTRAP_SCRIPT}",
            "Restart=on-failure",
            "RestartSec=30",
            "",
            "[Install]",
            "WantedBy=cloud-init.target",
            "",
        ]
    )


def containerd_hosts(cluster: ClusterSpec) -> dict[str, str]:
    """``hosts.toml`` per mirrored registry: mirrors first, the registry itself last."""
    files = {}
    for registry, mirrors in sorted(cluster.registry_mirrors.items()):
        lines = [f'server = "{_UPSTREAM.get(registry, f"https://{registry}")}"', ""]
        for mirror in mirrors:
            lines += [f'[host."{mirror}"]', '  capabilities = ["pull", "resolve"]', ""]
        files[f"/etc/containerd/certs.d/{registry}/hosts.toml"] = "\n".join(lines)
    return files


def containerd_config(cluster: ClusterSpec) -> str:
    """containerd's whole config.toml, version 3, the format of containerd 2.x (docs/cri/config.md at
    containerd v2.3.x: the CRI plugin split into ``io.containerd.cri.v1.images`` and ``.runtime``).

    containerd 2.0 to 2.2 read version 3 as it is; 2.3 and later migrate it on start. Settings not
    written here keep containerd's defaults.
    """
    return "\n".join(
        [
            "version = 3",
            "",
            "[plugins.'io.containerd.cri.v1.images']",
            f"  pinned_images.sandbox = '{kubeadm.pause_image(cluster)}'",
            "  registry.config_path = '/etc/containerd/certs.d'",
            "",
            "[plugins.'io.containerd.cri.v1.runtime'.containerd]",
            "  default_runtime_name = 'runc'",
            "  runtimes.runc.runtime_type = 'io.containerd.runc.v2'",
            "  runtimes.runc.options.SystemdCgroup = true",
            "",
        ]
    )


def containerd_package(cluster: ClusterSpec) -> str:
    """The apt version of ``containerd.io`` the nodes install: any patch of a line (``2.3.*``), or one release."""
    version = cluster.packages.containerd.version
    return f"{version}.*" if version.count(".") == 1 else f"{version}-*"


def containerd_settings(cluster: ClusterSpec) -> dict[str, str]:
    """What the node scripts need to install containerd 2 from its signed repository."""
    containerd = cluster.packages.containerd
    return {
        "CONTAINERD_REPOSITORY": containerd.repository.rstrip("/"),
        "CONTAINERD_KEY_FINGERPRINT": containerd.key_fingerprint,
        "CONTAINERD_PACKAGE": containerd_package(cluster),
    }


def encryption_configuration(encryption_key: str) -> str:
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {"secretbox": {"keys": [{"name": "key1", "secret": encryption_key}]}},
                    {"identity": {}},
                ],
            }
        ],
    }
    return yamltext.dump(document, sort_keys=False)


def audit_policy() -> str:
    document = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]},
            {"level": "None", "resources": [{"group": "", "resources": ["events"]}]},
            # Never log the bodies of secrets or tokens.
            {
                "level": "Metadata",
                "resources": [
                    {"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                ],
            },
            {"level": "Request", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
            {"level": "Metadata"},
        ],
    }
    return yamltext.dump(document, sort_keys=False)


def kube_vip_pod(node: NodeBootstrap) -> dict[str, Any]:
    """Static pod announcing the API's virtual IP by ARP from the leading control-plane node."""
    kubeconfig = "/etc/kubernetes/super-admin.conf" if node.step == "init" else "/etc/kubernetes/admin.conf"
    lease = node.cluster.endpoint.kube_vip_lease
    env = {
        "vip_arp": "true",
        "port": str(node.endpoint.port),
        "address": node.endpoint.address,
        "cp_enable": "true",
        "vip_leaderelection": "true",
        "vip_leasename": "plndr-cp-lock",
        "vip_leaseduration": str(lease.duration_seconds),
        "vip_renewdeadline": str(lease.renew_deadline_seconds),
        "vip_retryperiod": str(lease.retry_period_seconds),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-vip", "namespace": "kube-system"},
        "spec": {
            "hostNetwork": True,
            "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["kubernetes"]}],
            "containers": [
                {
                    "name": "kube-vip",
                    "image": node.cluster.endpoint.kube_vip_image,
                    "args": ["manager"],
                    "env": [{"name": key, "value": value} for key, value in env.items()],
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                    "volumeMounts": [{"name": "kubeconfig", "mountPath": "/etc/kubernetes/admin.conf"}],
                }
            ],
            "volumes": [{"name": "kubeconfig", "hostPath": {"path": kubeconfig, "type": "FileOrCreate"}}],
        },
    }


def control_plane_keys(pki: PkiMaterial) -> dict[str, str]:
    """Every control-plane node's key files by path, each of mode 0600: the CAs and the service-account
    key pair (the bootstrap places them for kubeadm and deletes them) and the API server's encryption
    configuration (which keeps its key). The same on every control-plane node of a cluster."""
    keys = {
        "ca.crt": pki.ca_cert,
        "ca.key": pki.ca_key,
        "etcd/ca.crt": pki.etcd_ca_cert,
        "etcd/ca.key": pki.etcd_ca_key,
        "front-proxy-ca.crt": pki.front_proxy_ca_cert,
        "front-proxy-ca.key": pki.front_proxy_ca_key,
        "sa.pub": pki.service_account_public_key,
        "sa.key": pki.service_account_private_key,
    }
    files = {f"{PKI_SOURCE}/{name}": content for name, content in keys.items()}
    files[ENCRYPTION_CONFIG] = encryption_configuration(pki.encryption_key)
    return files


def control_plane_files(node: NodeBootstrap, pki: PkiMaterial) -> list[dict[str, Any]]:
    """The key files themselves, or, where the platform keeps them, its program that fetches them."""
    keys = control_plane_keys(pki) if node.hints.key_fetch is None else {}
    encryption = keys.pop(ENCRYPTION_CONFIG, None)
    files = [_file(path, content, "0600") for path, content in keys.items()]
    if node.hints.key_fetch is not None:
        files.append(_file(KEY_FETCH_SCRIPT, node.hints.key_fetch, "0700"))
    files.append(_file(KUBEADM_CREDENTIALS_CONFIG, kubeadm.credentials_configuration(node.cluster, node.endpoint)))
    if encryption is not None:
        files.append(_file(ENCRYPTION_CONFIG, encryption, "0600"))
    files.append(_file(AUDIT_POLICY, audit_policy(), "0600"))
    if node.endpoint.announce:
        files.append(_file("/etc/hybrid-infra/kube-vip.yaml", yamltext.dump(kube_vip_pod(node), sort_keys=False), "0600"))
    return files


def render_cloud_config(node: NodeBootstrap, pki: PkiMaterial) -> str:
    """The node's whole cloud-config; raises if it grows past what the platform accepts as user data.

    ``pki.bootstrap_token`` is this node's own join token.
    """
    if not pki.bootstrap_token:
        raise ValueError(f"{node.name}: no join token given for the node")
    def kubeadm_config(step: kubeadm.Step) -> str:
        return kubeadm.render(
            node.cluster,
            node.group,
            node.index,
            node.endpoint,
            pki.bootstrap_token,
            kubeadm.ca_cert_hash(pki.ca_cert),
            node.hints,
            step,
        )

    # Rendered to initialise, the first control-plane node may still join: when the cluster answers
    # although Pulumi's record of it did not know yet.
    steps: list[kubeadm.Step] = ["init", "join-control-plane"] if node.step == "init" else [node.step]
    files = [
        _file("/etc/modules-load.d/kubernetes.conf", "overlay\nbr_netfilter\n"),
        _file("/etc/sysctl.d/90-kubernetes.conf", "".join(f"{k} = {v}\n" for k, v in SYSCTLS.items())),
        _file(CONTAINERD_CONFIG, containerd_config(node.cluster)),
        *(_file(path, content) for path, content in containerd_hosts(node.cluster).items()),
        *(_file(KUBEADM_CONFIGS[step], kubeadm_config(step), "0600") for step in steps),
        # Compressed: it is the largest file, the same on every node but for its settings.
        _compressed_file(BOOTSTRAP_SCRIPT, bootstrap_script(node), "0755"),
        _file(f"/etc/systemd/system/{BOOTSTRAP_UNIT}", bootstrap_unit(node)),
    ]
    if node.hints.provider_id is not None:
        files.append(_file(PROVIDER_ID_SCRIPT, provider_id_script(node), "0755"))
    if node.group.role == "control-plane":
        files += control_plane_files(node, pki)
    document = {
        "hostname": node.name,
        "preserve_hostname": False,
        "write_files": files,
        "runcmd": [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", BOOTSTRAP_UNIT],
            ["systemctl", "start", "--no-block", BOOTSTRAP_UNIT],
        ],
    }
    # Multi-line strings as literal blocks, so files stay readable in the user data.
    text = "#cloud-config\n" + yamltext.dump(document, sort_keys=False, literal_blocks=True, width=4096)
    size = len(text.encode())
    if size > node.hints.max_user_data:
        # One line naming the pool (the same for each of its nodes), as the stack's other problems.
        from ..config.errors import ConfigError

        cluster, group = node.cluster, node.group
        pools = [pool.name for pool in cluster.pools]
        if group.role == "control-plane":
            where = "cluster.controlPlane: "
        else:
            where = f"cluster.pools[{pools.index(group.name)}]: " if group.name in pools else "cluster.pools: "
            where += f"pool {group.name!r}: "
        remedies = ["list fewer mirrors in cluster.registryMirrors"] if any(cluster.registry_mirrors.values()) else []
        if group.role == "control-plane" and cluster.pki.key_algorithm != "ecdsa-p256":
            remedies.append("use cluster.pki.keyAlgorithm: ecdsa-p256 (smaller keys)")
        raise ConfigError(
            [
                f"{where}its cloud-config is {size} bytes, over the {node.hints.max_user_data} bytes of user data "
                "the platform accepts; "
                + (", or ".join(remedies) or "shorten what its nodes carry (labels, taints, repositories)")
            ]
        )
    return text
