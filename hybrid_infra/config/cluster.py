"""The ``cluster`` section: the Kubernetes cluster's shape, on any platform."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from .errors import problem, raise_problems
from .fields import (
    DEFAULT_KUBERNETES_VERSION,
    TAINT_EFFECTS,
    Cidr,
    Count,
    DnsLabel,
    HttpUrl,
    Int,
    KubernetesVersion,
    LabelKey,
    LabelValue,
    NonEmpty,
    Spec,
    prefix_between,
)
from .versions import Pin, kept_pins

CONTROL_PLANE_POOL = "control-plane"
POD_SUBNET_PREFIX = 24
"""Each node's share of the pod network (kube-controller-manager's and Cilium's cluster-pool default)."""
POOL_LABEL = "hybrid-infra.io/pool"
"""Every node carries its pool's name under this label."""
VERSION_LABEL = "hybrid-infra.io/kubernetes-version"
"""Every node carries the Kubernetes version it was bootstrapped or last upgraded to under this label."""
KUBE_VIP_IMAGE = "ghcr.io/kube-vip/kube-vip:v1.2.3"
"""kube-vip v1.2.3, the newest release (kube-vip/kube-vip tags)."""
API_PORT = 6443


@dataclass(frozen=True)
class NodeLimit:
    """A setting of the stack that leaves room for so many nodes: an address range, a quota it states.

    The cluster's own (``ClusterSpec.node_limits``) and those a platform section states in its
    ``check`` (against ``StackSpec.nodes_on``) are checked alike, each as one line naming the key,
    its value, the nodes that fit and the nodes the stack asks for.
    """

    key: str
    """The stack key, named from the top: ``cluster.network.podCidr``, ``<platform>.<key>``."""
    value: str
    fits: int
    """How many nodes the setting leaves room for."""
    why: str = ""
    """What takes the room, when the value does not say it."""
    pools: Collection[str] | None = None
    """Only the nodes of these pools count (the control plane's is ``control-plane``); None: every node."""
    counted: str = ""
    """Whose nodes are counted, when not the cluster's or the pools' (``the zone with the most nodes gets``)."""

    def problem(self, nodes: int) -> PydanticCustomError | None:
        """The stack's problem when ``nodes`` do not fit, or None."""
        if nodes <= self.fits:
            return None
        why = f" ({self.why})" if self.why else ""
        asked = self.counted or (f"pools {', '.join(self.pools)} have" if self.pools is not None else "the cluster has")
        return problem(
            f"{self.value} is not allowed; it holds {self.fits} nodes{why}, {asked} {nodes}", key=self.key, absolute=True
        )

    def check(self, nodes: int) -> None:
        """Raise the stack's problem when ``nodes`` do not fit."""
        raise_problems(list(filter(None, [self.problem(nodes)])))


class Taint(Spec):
    key: LabelKey
    value: LabelValue = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        """Accept kubectl's form ``key[=value]:Effect``."""
        if not isinstance(data, str):
            return data
        key_value, sep, effect = data.rpartition(":")
        if not sep or effect not in TAINT_EFFECTS:
            raise problem(
                f"{data!r} is not allowed; use key[=value]:Effect with Effect one of {', '.join(TAINT_EFFECTS)}"
            )
        key, _, value = key_value.partition("=")
        return {"key": key, "value": value, "effect": effect}

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


class NetworkSpec(Spec):
    node_cidr: Cidr = "10.20.0.0/24"
    pod_cidr: Cidr = "10.244.0.0/16"
    service_cidr: Cidr = "10.96.0.0/12"

    @field_validator("pod_cidr")
    @classmethod
    def _pod_size(cls, value: str) -> str:
        # Each node gets a /24 of pods (kube-controller-manager and Cilium's cluster pool).
        return prefix_between(value, 8, POD_SUBNET_PREFIX, f"each node takes a /{POD_SUBNET_PREFIX} of it")

    @field_validator("service_cidr")
    @classmethod
    def _service_size(cls, value: str) -> str:
        return prefix_between(value, 12, 28, "the API server's limits")

    @model_validator(mode="after")
    def _no_overlap(self) -> NetworkSpec:
        names = ("node_cidr", "pod_cidr", "service_cidr")
        found = []
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                a = ipaddress.ip_network(getattr(self, first))
                b = ipaddress.ip_network(getattr(self, second))
                if a.overlaps(b):
                    found.append(
                        problem(
                            f"{b} overlaps {to_camel(first)} {a}; node, pod and service networks must not overlap",
                            key=to_camel(second),
                        )
                    )
        raise_problems(found)
        return self


PLATFORM_FIELD = Field(
    None, description="the platform section the nodes run on (hybrid-infra:<platform>); default: the one given"
)


class ControlPlaneSpec(Spec):
    count: Int = 3
    size: NonEmpty
    platform: DnsLabel | None = PLATFORM_FIELD

    @field_validator("count")
    @classmethod
    def _odd_quorum(cls, value: int) -> int:
        if value not in (1, 3, 5):
            raise problem(f"{value} is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)")
        return value


class PoolSpec(Spec):
    """A pool of worker nodes of one size."""

    name: DnsLabel
    count: Count
    size: NonEmpty
    labels: dict[LabelKey, LabelValue] = {}
    taints: list[Taint] = []
    virtualization: bool = Field(False, description="run KubeVirt virtual machines on this pool")
    platform: DnsLabel | None = PLATFORM_FIELD

    @field_validator("labels")
    @classmethod
    def _kubelet_may_set(cls, labels: dict[str, str]) -> dict[str, str]:
        # The NodeRestriction admission plugin refuses kubelets that label themselves in these domains.
        found = []
        for key in labels:
            prefix = key.rpartition("/")[0]
            restricted = prefix.endswith(("kubernetes.io", "k8s.io"))
            if key == POOL_LABEL:
                found.append(problem(f"{key!r} is not allowed; hybrid-infra sets it to the pool's name", key=key))
            elif key == VERSION_LABEL:
                found.append(problem(f"{key!r} is not allowed; hybrid-infra sets it to the node's Kubernetes version", key=key))
            elif restricted and not prefix.endswith(("kubelet.kubernetes.io", "node.kubernetes.io")):
                found.append(
                    problem(
                        f"{key!r} is not allowed; nodes may not label themselves under kubernetes.io or k8s.io "
                        "(except kubelet.kubernetes.io and node.kubernetes.io)",
                        key=key,
                    )
                )
        raise_problems(found)
        return labels

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == CONTROL_PLANE_POOL:
            raise problem(f"{value!r} is not allowed; the name is reserved for the control plane")
        return value


class KubeVipLeaseSpec(Spec):
    """kube-vip's leader election, which decides the control-plane node that announces the address.

    Cluster API's kube-vip templates run it with 15, 10 and 2 seconds (packaging/flavorgen of its
    provider that uses kube-vip); shorter leases move the address whenever the API answers slowly."""

    duration_seconds: Int = Field(15, ge=1, le=300, description="how long a leader's lease lasts")
    renew_deadline_seconds: Int = Field(10, ge=1, le=300, description="how long the leader tries to renew it")
    retry_period_seconds: Int = Field(2, ge=1, le=60, description="how often candidates try to acquire it")

    @model_validator(mode="after")
    def _ordered(self) -> KubeVipLeaseSpec:
        # client-go's leader election refuses anything else (tools/leaderelection: LeaseDuration >
        # RenewDeadline > JitterFactor 1.2 x RetryPeriod).
        if not (self.duration_seconds > self.renew_deadline_seconds > 1.2 * self.retry_period_seconds):
            raise problem(
                f"durationSeconds {self.duration_seconds}, renewDeadlineSeconds {self.renew_deadline_seconds} and "
                f"retryPeriodSeconds {self.retry_period_seconds} are not allowed; the lease must outlast the renew "
                "deadline, and the deadline 1.2 retry periods"
            )
        return self


class EndpointSpec(Spec):
    type: Literal["loadBalancer", "vip"] = "loadBalancer"
    public: bool = False
    allowed_cidrs: list[Cidr] = Field(
        default=[], description="clients allowed to reach the API besides the nodes themselves"
    )
    kube_vip_image: NonEmpty = Field(KUBE_VIP_IMAGE, description="with type vip: the image announcing the address")
    kube_vip_lease: KubeVipLeaseSpec = KubeVipLeaseSpec()

    @model_validator(mode="after")
    def _public_needs_clients(self) -> EndpointSpec:
        if self.public and not self.allowed_cidrs:
            raise problem(
                "[] is not allowed with public: true; name the networks of the API's clients "
                "(the machine running pulumi among them)",
                key="allowedCidrs",
            )
        return self


CONTAINERD_REPOSITORY = "https://download.docker.com/linux/ubuntu"
"""Docker's apt repository, which publishes containerd 2 as ``containerd.io`` for each Ubuntu release
(docker/docs, content/manuals/engine/install/ubuntu.md)."""
CONTAINERD_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
"""The fingerprint of the key that signs that repository, as Docker's install guide states it
(docker/docker.github.io, engine/install/ubuntu.md: "9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88")."""
CONTAINERD_VERSION = "2.3"
"""containerd's long-term support line, supported until April 30, 2028, and listed for Kubernetes 1.32
to 1.37 (1.36: "2.3.0+, 2.2.0+"; 1.37: "2.4.0+, 2.3.0+"): containerd/containerd RELEASES.md at v2.4.2,
"Kubernetes Support". Any patch of it."""


CLUSTER_PINS = {
    "containerd": Pin(
        "containerd",
        CONTAINERD_VERSION,
        ("1.32", "1.37"),
        "containerd/containerd v2.4.2, RELEASES.md, Kubernetes Support (1.32: 2.1.0+ ... 1.37: 2.4.0+, 2.3.0+)",
    ),
    "kubeVip": Pin("kube-vip", KUBE_VIP_IMAGE, None, "kube-vip/kube-vip v1.2.3 states no range (go.mod: k8s.io/api v0.36.3)"),
}
"""The cluster's default pins, by their key in ``cluster``."""


def _containerd_version(value: str) -> str:
    parts = value.split(".")
    if not (2 <= len(parts) <= 3 and all(part.isdigit() for part in parts) and parts[0] == "2"):
        raise problem(
            f"{value!r} is not allowed; use containerd 2: a release line such as {CONTAINERD_VERSION} or a release "
            "such as 2.3.1 (Kubernetes 1.36 and later need containerd 2)"
        )
    return value


def _fingerprint(value: str) -> str:
    compact = value.replace(" ", "").upper()
    if len(compact) != 40 or any(c not in "0123456789ABCDEF" for c in compact):
        raise problem(f"{value!r} is not allowed; give the signing key's 40 hexadecimal digits (spaces allowed)")
    return compact


class ContainerdSpec(Spec):
    """containerd 2 from a signed apt repository (``containerd.io``, which brings its own runc)."""

    repository: HttpUrl = Field(CONTAINERD_REPOSITORY, description="apt repository of containerd.io (or its mirror)")
    version: NonEmpty = Field(CONTAINERD_VERSION, description="a release line (any patch of it) or one release")
    key_fingerprint: NonEmpty = Field(
        CONTAINERD_KEY_FINGERPRINT, description="fingerprint of the repository's signing key; a key without it is refused"
    )

    @field_validator("version")
    @classmethod
    def _containerd_2(cls, value: str) -> str:
        return _containerd_version(value)

    @field_validator("key_fingerprint")
    @classmethod
    def _key(cls, value: str) -> str:
        return _fingerprint(value)


class PackagesSpec(Spec):
    preinstalled: bool = Field(
        False, description="the image already has containerd 2, kubelet, kubeadm and kubectl at the cluster's version"
    )
    containerd: ContainerdSpec = ContainerdSpec()
    repository: HttpUrl = Field(
        "https://pkgs.k8s.io/core:/stable:", description="base of the Kubernetes package repository (or its mirror)"
    )
    revision: NonEmpty = Field("1.1", description="Debian revision of the packages: kubelet=<version>-<revision>")


class UpgradeSpec(Spec):
    """How a new ``kubernetesVersion`` reaches the running nodes (system-upgrade-controller Plans)."""

    max_unavailable: Int = Field(1, ge=1, le=100, description="workers upgraded at once (the control plane: one)")
    drain_timeout_seconds: Int = Field(
        1800, ge=60, le=86400, description="how long draining a node may take: its VMs live-migrate meanwhile"
    )
    timeout_minutes: Int = Field(240, ge=10, le=2880, description="how long `pulumi up` waits for every node")
    image: NonEmpty = Field(
        "docker.io/library/ubuntu:24.04",
        description="image of the upgrade job, which runs the upgrade on the host (chroot); with a tag or digest",
    )

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        # The controller appends the plan's version to an image without a tag (container.WithLatestTag).
        name = value.rsplit("/", 1)[-1]
        if ":" not in name and "@" not in name:
            raise problem(f"{value!r} is not allowed; give a tag or digest, such as docker.io/library/ubuntu:24.04")
        return value


class PkiSpec(Spec):
    key_algorithm: Literal["ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"] = "ecdsa-p256"
    admin_certificate_hours: Int = Field(8760, ge=1, le=87600)


class ClusterSpec(Spec):
    stack_key: ClassVar[str] = "cluster"

    name: DnsLabel
    kubernetes_version: KubernetesVersion = DEFAULT_KUBERNETES_VERSION
    network: NetworkSpec = NetworkSpec()
    control_plane: ControlPlaneSpec
    pools: list[PoolSpec] = []
    endpoint: EndpointSpec = EndpointSpec()
    cni: Literal["cilium", "calico"] = "cilium"
    packages: PackagesSpec = PackagesSpec()
    image_repository: NonEmpty = Field("registry.k8s.io", description="where kubeadm pulls control-plane images")
    registry_mirrors: dict[NonEmpty, list[HttpUrl]] = Field(
        default={}, description="registry host (docker.io, registry.k8s.io, ...) -> mirror URLs tried in order"
    )
    pki: PkiSpec = PkiSpec()
    readiness_timeout_seconds: Int = Field(1200, ge=10, le=7200)
    upgrade: UpgradeSpec = UpgradeSpec()
    join_token_ttl_minutes: Int = Field(
        60, ge=15, le=1440, description="how long a join token is valid after Pulumi issues it for new nodes"
    )

    @field_validator("name")
    @classmethod
    def _short_enough(cls, value: str) -> str:
        # Node names are <cluster>-<pool>-<index> and must stay a DNS label.
        if len(value) > 20:
            raise problem(f"{value!r} is not allowed; use at most 20 characters (node names derive from it)")
        return value

    @field_validator("pools")
    @classmethod
    def _unique_names(cls, pools: list[PoolSpec]) -> list[PoolSpec]:
        names = [pool.name for pool in pools]
        raise_problems(
            [
                problem(f"{name!r} is not allowed; pool names must be unique", key=f"[{index}].name")
                for index, name in enumerate(names)
                if name in names[:index]
            ]
        )
        return pools

    def pins(self) -> list[Pin]:
        """The default pins of the nodes' runtime and endpoint this cluster keeps."""
        chosen = {"containerd": self.packages.containerd.version, "kubeVip": self.endpoint.kube_vip_image}
        return kept_pins(CLUSTER_PINS, chosen)

    def node_count(self, pools: Collection[str] | None = None) -> int:
        """The cluster's nodes, or those of the pools named (the control plane's is ``control-plane``)."""
        counts = {CONTROL_PLANE_POOL: self.control_plane.count, **{pool.name: pool.count for pool in self.pools}}
        return sum(count for name, count in counts.items() if pools is None or name in pools)

    def node_limits(self) -> list[NodeLimit]:
        """How many nodes the node and pod networks hold."""
        node_network = ipaddress.ip_network(self.network.node_cidr)
        pod_network = ipaddress.ip_network(self.network.pod_cidr)
        return [
            # The network and broadcast addresses, the gateway and the API endpoint take one each.
            NodeLimit("cluster.network.nodeCidr", str(node_network), max(node_network.num_addresses - 4, 0)),
            NodeLimit(
                "cluster.network.podCidr",
                str(pod_network),
                2 ** max(POD_SUBNET_PREFIX - pod_network.prefixlen, 0),
                f"each node takes a /{POD_SUBNET_PREFIX} of it",
            ),
        ]

    @model_validator(mode="after")
    def _fits(self) -> ClusterSpec:
        found = []
        for index, pool in enumerate(self.pools):
            # Node names are hostnames: <cluster>-<pool>-<index>, at most 63 characters.
            longest = f"{self.name}-{pool.name}-{max(pool.count - 1, 0)}"
            if len(longest) > 63:
                found.append(
                    problem(
                        f"{pool.name!r} is not allowed; node {longest!r} would be longer than 63 characters",
                        key=f"cluster.pools[{index}].name",
                        absolute=True,
                    )
                )
        found += filter(None, (limit.problem(self.node_count(limit.pools)) for limit in self.node_limits()))
        if any(pool.virtualization for pool in self.pools) and not any(
            pool.count > 0 and not pool.virtualization for pool in self.pools
        ):
            found.append(
                problem(
                    "only virtualization pools given; KubeVirt's and CDI's own services run off them, "
                    "so add a worker pool without virtualization",
                    key="cluster.pools",
                    absolute=True,
                )
            )
        raise_problems(found)
        return self

