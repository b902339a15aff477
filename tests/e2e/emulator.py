"""The node emulator of the e2e tier: a stack's nodes as network namespaces on one bridge, each
booting its own cloud-config and running its own bootstrap script with the real kubeadm, etcd,
kube-apiserver, controllers and containerd from ``.tools/bin``.

- **Network:** a bridge holds the stack's node network; each node is a network namespace with a
  veth on it and the address the plan gave the node (kubeadm binds etcd and the controllers to
  127.0.0.1, so every node needs a loopback of its own). The endpoint's private address sits on the
  bridge, where :class:`LoadBalancer` forwards the API port to the control-plane nodes whose
  /readyz answers, as the cloud's load balancer does with its health monitor. A virtual IP (vSphere's
  kube-vip) is not on the bridge: the node holding kube-vip's Lease puts it on its own interface.
- **Root:** each node boots in mount and UTS namespaces of its own (``node_init.py``): its writes
  land in its own directory, its hostname is its name.
- **Shims** (``shims/``) stand in only for what cannot run here, each named in :data:`SHIMS`.
- **Images:** the registry cannot be reached; containerd is given, under the names kubeadm pulls, an
  image of one empty layer each (:func:`image_archive`). Nothing runs from them: the kubelet
  stand-in runs the static pods' programs from ``.tools/bin`` (and kube-vip's stand-in from ``shims/``).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

TOOLS = ROOT / ".tools" / "bin"
SHIM_DIR = Path(__file__).with_name("shims")
SHIMS = {
    "systemctl": "systemd: services started in the background of the node",
    "apt-get": "package installs: the node's programs are already on PATH",
    "apt-mark": "package installs",
    "gpg": "the repositories' signing keys, which cannot be downloaded here",
    "curl": "the repositories' signing keys; every other URL goes to the real curl",
    "modprobe": "the machine's kernel, shared by every node",
    "sysctl": "the machine's kernel, shared by every node",
    "swapoff": "the machine's kernel, shared by every node",
    "kubelet": "the kubelet stand-in (tools/kubernetes/kubelet-standin), no containers",
    "kube-vip": "kube-vip, which the Go module proxy does not serve: takes its Lease, then puts the address on the node",
}
"""Every program on a node's PATH that is not the real one, and what it stands in for."""
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BRIDGE = "hi-e2e0"
PATH = f"{SHIM_DIR}:{TOOLS}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *arguments], check=check, capture_output=True, text=True)


def image_archive(references: Iterable[str], path: Path) -> Path:
    """An OCI image layout holding one image of a single empty layer under each of ``references``."""

    def blob(content: bytes) -> tuple[str, bytes]:
        return "sha256:" + hashlib.sha256(content).hexdigest(), content

    empty_layer = b"\0" * 1024
    layer_digest, _ = blob(empty_layer)
    config_digest, config = blob(
        json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer_digest]}, "config": {}},
            sort_keys=True,
        ).encode()
    )
    manifest_digest, manifest = blob(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(empty_layer)}],
            },
            sort_keys=True,
        ).encode()
    )
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest),
                "annotations": {"io.containerd.image.name": reference},
            }
            for reference in sorted(set(references))
        ],
    }
    files = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": json.dumps(index).encode(),
        **{f"blobs/sha256/{digest.split(':')[1]}": content for digest, content in [
            (layer_digest, empty_layer), (config_digest, config), (manifest_digest, manifest)
        ]},
    }
    with tarfile.open(path, "w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


class LoadBalancer:
    """TCP on ``address:port``, forwarded round robin to the members its health monitor finds up: as the
    stacks' load balancers do (an HTTPS GET of /readyz every 3 s with a 2 s timeout, not verifying the
    certificate; a member is up after 2 answers of 200 in a row and down after 3 failures, the OpenStack
    monitor's settings). ``members`` may change at any time. ``fail_open``: with every member down,
    forward to them all, as AWS's Network Load Balancer does (and as kube-vip's address, which moves
    with a lease and not with the API's health, reaches its holder whatever it answers)."""

    DELAY, TIMEOUT, UP, DOWN = 3.0, 2.0, 2, 3

    def __init__(self, addresses: list[str], port: int, members: list[str]):
        """``addresses``: where clients connect (a private address, and a public one NATed to it)."""
        self.members = list(members)
        self.port = port
        self.fail_open = False
        self._up: set[str] = set()
        self._streak: dict[str, int] = {}
        self._next = 0
        self._listeners = [socket.create_server((address, port)) for address in addresses]
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._accept, args=(listener,), daemon=True) for listener in self._listeners]
        self._threads.append(threading.Thread(target=self._monitor, daemon=True))
        for thread in self._threads:
            thread.start()

    def _healthy(self, member: str) -> bool:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
        try:
            with opener.open(f"https://{member}:{self.port}/readyz", timeout=self.TIMEOUT) as answer:
                return answer.status == 200
        except (OSError, ValueError):
            return False

    def _monitor(self) -> None:
        while not self._stopped.wait(self.DELAY):
            for member in list(self.members):
                healthy = self._healthy(member)
                streak = self._streak.get(member, 0)
                # Positive: successes in a row; negative: failures in a row.
                streak = max(streak, 0) + 1 if healthy else min(streak, 0) - 1
                self._streak[member] = streak
                if streak >= self.UP:
                    self._up.add(member)
                elif streak <= -self.DOWN:
                    self._up.discard(member)

    def _accept(self, listener: socket.socket) -> None:
        listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        members = [member for member in self.members if member in self._up]
        if not members and self.fail_open:
            members = list(self.members)
        for offset in range(len(members)):
            member = members[(self._next + offset) % len(members)]
            try:
                upstream = socket.create_connection((member, self.port), timeout=1.0)
            except OSError:
                continue
            self._next += 1
            upstream.settimeout(None)
            _pipe(client, upstream)
            return
        client.close()

    def close(self) -> None:
        """Stop listening, at once: the address is free for the next load balancer when this returns."""
        self._stopped.set()
        for thread in self._threads:
            thread.join()
        for listener in self._listeners:
            listener.close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            readable, _, _ = select.select([a, b], [], [], 60)
            if not readable:
                continue
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


@dataclass
class Network:
    """The bridge that carries ``cidr``, the machine's side at its first address."""

    cidr: ipaddress.IPv4Network
    addresses: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return str(self.cidr.network_address + 1)

    def up(self) -> None:
        self.down()
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/{self.cidr.prefixlen}", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")

    def add_address(self, address: str) -> None:
        ip("addr", "add", f"{address}/32", "dev", BRIDGE)
        self.addresses.append(address)

    def down(self) -> None:
        ip("link", "del", BRIDGE, check=False)


class Node:
    """One VM: booted from its cloud-config, destroyed with everything it ran (its disk goes too)."""

    def __init__(self, network: Network, name: str, address: str, cloud_config: str, directory: Path, env: dict[str, str]):
        self.network, self.name, self.address = network, name, address
        self.directory = directory
        self.namespace = "hi-" + name
        self.veth = "hv" + hashlib.sha256(name.encode()).hexdigest()[:10]
        self.cloud_config = directory / "user-data"
        directory.mkdir(parents=True, exist_ok=True)
        self.cloud_config.write_text(cloud_config)
        self.cloud_config.chmod(0o600)
        self.env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", **env}
        self.process: subprocess.Popen[bytes] | None = None
        self.on_network: Callable[[Node], None] | None = None
        """Called once the node's network exists, before it boots: where a cloud's per-VM services
        (its instance metadata) start."""

    def boot(self) -> None:
        """Power on: the first boot runs the cloud-config, later ones start what is enabled."""
        if ip("netns", "pids", self.namespace, check=False).returncode != 0:
            ip("netns", "add", self.namespace)
            ip("link", "del", self.veth, check=False)
            ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.namespace)
            ip("link", "set", self.veth, "master", BRIDGE, "up")
            prefix = self.network.cidr.prefixlen
            for command in (
                ("addr", "add", f"{self.address}/{prefix}", "dev", "eth0"),
                ("link", "set", "eth0", "up"),
                ("link", "set", "lo", "up"),
                ("route", "add", "default", "via", self.network.gateway),
            ):
                ip("-n", self.namespace, *command)
        if self.on_network is not None:
            self.on_network(self)
        subprocess.run(
            ["ip", "netns", "exec", self.namespace, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward"], check=True
        )
        console = open(self.directory / "console.log", "ab")
        self.process = subprocess.Popen(
            [
                "ip", "netns", "exec", self.namespace,
                "unshare", "--mount", "--uts", "--propagation", "private", "--",
                sys.executable, "-m", "tests.e2e.node_init", str(self.directory), self.name, str(self.cloud_config),
            ],
            cwd=ROOT, env=self.env, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
        )
        console.close()

    def run(
        self, *command: str, timeout: float = 120, check: bool = False, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command on the node (its namespaces, its PATH)."""
        assert self.process is not None, f"{self.name} is not running"
        return subprocess.run(
            ["nsenter", "-t", str(self.process.pid), "-m", "-u", "-n", "--", *command],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=check, input=input,
        )

    def read(self, path: str) -> str:
        return self.run("cat", path, check=True).stdout

    def wait_for(self, path: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            if self.run("test", "-e", path).returncode == 0:
                return True
            time.sleep(2)
        return False

    def power_off(self) -> None:
        """Every process of the node ends at once, as when its VM stops; its disk stays."""
        pids = ip("netns", "pids", self.namespace, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None:
            self.process.wait(timeout=30)
            self.process = None

    def destroy(self) -> None:
        """The VM and its disk are gone."""
        self.power_off()
        ip("netns", "del", self.namespace, check=False)
        ip("link", "del", self.veth, check=False)
        shutil.rmtree(self.directory / "upper", ignore_errors=True)
        shutil.rmtree(self.directory / "work", ignore_errors=True)

    def log(self) -> str:
        """What a reader of the node would look at when a test fails."""
        parts = []
        for path in (
            "var/log/journal/hybrid-infra-bootstrap.log",
            "var/log/journal/kubelet.log",
            "var/log/journal/containerd.log",
        ):
            upper = self.directory / "upper" / path
            if upper.exists():
                parts.append(f"--- {self.name}:/{path}\n" + upper.read_text(errors="replace")[-6000:])
        console = self.directory / "console.log"
        if console.exists():
            parts.append(f"--- {self.name} console\n" + console.read_text()[-2000:])
        return "\n".join(parts)


def wait_until(condition: Callable[[], object], timeout: float, what: str, detail: Callable[[], str]) -> None:
    """Poll ``condition`` every 2 s; fail the test with ``what`` and ``detail()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:g}s\n{detail()}")
        time.sleep(2)


def clear_leftovers() -> None:
    """Namespaces and the bridge of an emulator that did not get to clean up (a killed test run)."""
    for line in ip("netns", "list", check=False).stdout.splitlines():
        namespace = line.split()[0]
        if namespace.startswith("hi-"):
            for pid in ip("netns", "pids", namespace, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            ip("netns", "del", namespace, check=False)
    for line in ip("-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith("hv"):
            ip("link", "del", name, check=False)
    ip("link", "del", BRIDGE, check=False)


class Cluster:
    """A stack's plan, booted node by node on one emulated network.

    ``cluster_exists``: render the nodes as a later ``pulumi up`` of the running cluster does (its
    record says it has answered), as a replaced node boots.
    """

    def __init__(self, stack: str, directory: Path, plan_of):
        clear_leftovers()
        self.stack = stack
        self.directory = directory
        self._plan_of = plan_of
        plan = plan_of(stack, False)
        self.spec = plan.spec
        cluster = next(r for r in plan.simulation.resources if r.type == "hybrid-infra:index:KubernetesCluster")
        self.addresses = {node["name"]: node["address"] for node in cluster.outputs["nodes"]}
        self.control_plane = [node["name"] for node in cluster.outputs["nodes"] if node["role"] == "control-plane"]
        self.api_address, self.public_address = cluster.outputs["apiAddress"], cluster.outputs["endpoint"]
        network = ipaddress.IPv4Network(self.spec.cluster.network.node_cidr)
        # An endpoint named in DNS (a cloud load balancer's name) gets the node network's last address,
        # and every node a hosts entry for each name: the cloud's DNS stands in as /etc/hosts.
        self.names: dict[str, str] = {}
        for address in (self.api_address, self.public_address):
            if not _is_address(address):
                self.names[address] = str(network.broadcast_address - 1)
        self.kubeconfig = directory / "admin.conf"
        kubeconfig = _value(cluster.outputs["kubeconfig"])
        for name, address in self.names.items():
            # From this machine the name is dialled by address, the certificate still checked for the name.
            kubeconfig = kubeconfig.replace(f"server: https://{name}:", f"tls-server-name: {name}\n    server: https://{address}:")
        self.kubeconfig.write_text(kubeconfig)
        self.kubeconfig.chmod(0o600)
        machines = {r.urn: r for r in plan.simulation.resources}
        self.instance_data = {
            node: {"v1": {"instance_id": machines[urn].resource_id, "availability_zone": machines[urn].outputs.get("availabilityZone"), "local_hostname": node}}
            for node, urn in cluster.outputs["machines"].items()
        }
        pki = next(r for r in plan.simulation.resources if r.type == "hybrid-infra:index:ClusterPki")
        self.ca_cert = _value(pki.outputs["caCert"])
        self.admin_cert, self.admin_key = _value(pki.outputs["adminCert"]), _value(pki.outputs["adminKey"])
        self.network = Network(network)
        self.network.up()
        # The endpoint: its private address, and the public one clients use (a floating IP's NAT),
        # served by a load balancer; or a virtual IP the control-plane nodes' kube-vip announces.
        self.virtual_ip = "/etc/hybrid-infra/kube-vip.yaml" in self.plan_files(self.control_plane[0])
        self.balancer: LoadBalancer | None = None
        if not self.virtual_ip:
            endpoint = list(dict.fromkeys(self.address_of(address) for address in (self.api_address, self.public_address)))
            for address in endpoint:
                self.network.add_address(address)
            self.balancer = LoadBalancer(endpoint, 6443, [self.addresses[name] for name in self.control_plane])
        images = subprocess.run(
            [str(TOOLS / "kubeadm"), "config", "images", "list", "--kubernetes-version",
             "v" + self.spec.cluster.kubernetes_version, "--image-repository", self.spec.cluster.image_repository],
            capture_output=True, text=True, check=True,
        ).stdout.split()
        self.env = {
            "E2E_IMAGES": str(image_archive(images, directory / "images.tar")),
            "CONTAINERD_KEY_FINGERPRINT": self.spec.cluster.packages.containerd.key_fingerprint,
            "E2E_HOSTS": json.dumps(self.names),
        }
        self.nodes: dict[str, Node] = {}
        self.trusted_ca: str | None = None
        """A CA the nodes trust beside the machine's (a cloud API stand-in's), in their CA bundle."""
        self.on_network: Callable[[Node], None] | None = None
        """What each node's :attr:`Node.on_network` is set to."""
        self.record = None
        """The cluster record's last result, as Pulumi's state keeps it (a test's to set)."""

    def address_of(self, endpoint: str) -> str:
        return self.names.get(endpoint, endpoint)

    def user_data(self, name: str, cluster_exists: bool = False) -> str:
        from hybrid_infra.offline.plan import user_data

        return _value(user_data(self._plan_of(self.stack, cluster_exists))[name])

    def plan_files(self, name: str, cluster_exists: bool = False) -> dict[str, str]:
        """The node's files as its cloud-config writes them."""
        from tests.conftest import written_files

        return written_files(self.user_data(name, cluster_exists))

    def boot(self, name: str, cluster_exists: bool = False, generation: int = 0) -> Node:
        """Create the node's VM from its cloud-config and power it on."""
        return self.boot_with(name, self.user_data(name, cluster_exists), generation)

    def boot_with(self, name: str, user_data: str, generation: int = 0) -> Node:
        """Create the node's VM from ``user_data`` and power it on."""
        # The cloud's instance metadata, as cloud-init keeps it (what `cloud-init query` reads).
        env = {**self.env, "E2E_INSTANCE_DATA": json.dumps(self.instance_data[name])}
        node = Node(self.network, name, self.addresses[name], user_data, self.directory / f"{name}.{generation}", env)
        if self.trusted_ca is not None:
            # The node's /etc overlay holds the machine's bundle with the CA added.
            bundle = node.directory / "upper" / CA_BUNDLE.strip("/")
            bundle.parent.mkdir(parents=True, exist_ok=True)
            bundle.write_text(Path(CA_BUNDLE).read_text() + self.trusted_ca)
        node.on_network = self.on_network
        self.nodes[name] = node
        node.boot()
        return node

    def record_inputs(self) -> dict[str, str]:
        """The cluster record's inputs, as the program gives them (hybrid_infra.readiness.ClusterRecord)."""
        from hybrid_infra.readiness import RECORD_KIND

        server = f"https://{self.address_of(self.public_address)}:6443"
        return {"server": server, "ca_cert": self.ca_cert, "client_cert": self.admin_cert, "client_key": self.admin_key, "kind": RECORD_KIND}

    def wait_until_ready(self, timeout: float) -> None:
        """What `pulumi up` waits for before anything uses the API: the project's readiness gate."""
        from hybrid_infra.readiness import wait_until_ready

        if self.public_address in self.names:
            # Named in DNS: kubectl, which dials the address and checks the certificate for the name.
            deadline = time.monotonic() + timeout
            while self.kubectl("get", "--raw", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", check=False).returncode:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the API did not answer within {timeout:g}s")
                time.sleep(1)
            return
        server = f"https://{self.public_address}:6443"
        wait_until_ready(server, self.ca_cert, self.admin_cert, self.admin_key, timeout, interval_seconds=1)

    def kubectl(
        self, *arguments: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """kubectl as the stack's admin, from outside the nodes, through the endpoint."""
        return subprocess.run(
            [str(TOOLS / "kubectl"), "--kubeconfig", str(self.kubeconfig), *arguments],
            capture_output=True, text=True, check=check, timeout=timeout, input=input,
        )

    def logs(self) -> str:
        return "\n".join(node.log() for node in self.nodes.values())

    def close(self) -> None:
        for node in self.nodes.values():
            node.destroy()
        if self.balancer is not None:
            self.balancer.close()
        self.network.down()


def _value(value):
    return getattr(value, "value", value)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def join_token_secrets(plan, expiration: str) -> dict[str, dict]:
    """The bootstrap-token Secrets the program creates once the API answers, by node name, with the
    expiry a real `pulumi up` gives them (its time of creation plus the TTL; the simulated clock's
    are long past)."""
    secrets = {}
    for resource in plan.simulation.resources:
        if resource.type == "kubernetes:core/v1:Secret" and "-join-token-" in resource.name:
            node = resource.name.split("-join-token-", 1)[1]
            secrets[node] = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": resource.inputs["metadata"],
                "type": resource.inputs["type"],
                "stringData": {**_value(resource.inputs["stringData"]), "expiration": expiration},
            }
    return secrets
