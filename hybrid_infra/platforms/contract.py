"""The contract every platform implements, as Cluster API separates infrastructure from bootstrap.

A platform has a stack section (:class:`PlatformSection`, plain data) and an
:class:`Infrastructure` component that owns its network and security and parents all of its cloud
resources. The cluster asks the infrastructure for the API endpoint first (its address goes into
every node's cloud-config), then for node pools from a :class:`NodeGroup` and one cloud-config per
node, and finally registers the control-plane nodes as endpoint members. A platform knows nothing
of kubeadm; it tells the bootstrap only plain :class:`PlatformHints`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

import pulumi
from pydantic_core import PydanticCustomError

from ..config.cluster import API_PORT, ClusterSpec
from ..config.errors import ConfigError, problem
from ..config.fields import Spec
from ..config.versions import Pin
from ..topology import NodeGroup, PlatformHints, Role

if TYPE_CHECKING:
    from ..config.addons import AddonsSpec
    from ..stack import StackSpec

T = TypeVar("T")

_INVOKE_FAILURE = re.compile(r"^invoke of \S+ failed: (?P<reason>.*?)(?: \(\w*\))?$", re.S)


class LookupFailed(Exception):
    """Raised by a platform's look-up answer on the simulated cloud (its ``simulated.py``) when the provider
    would fail the look-up (nothing matches, no such ID): the program's call fails with the message, as it
    does under the engine."""


def look_up(key: str, what: str, call: Callable[[], T]) -> T:
    """A look-up of what the stack names (an image, a zone, a vCenter object) whose failure (nothing
    matches, no such ID, no access) is one line naming ``key``: ``<key>: <what> failed: <the provider's reason>``.

    The call is the SDK's plain form, which returns the result or raises, before the component
    registers what needs it."""
    try:
        return call()
    except Exception as error:  # the SDK raises a provider's failed look-up as a plain Exception
        text = " ".join(str(error).split())
        match = _INVOKE_FAILURE.match(text)
        raise ConfigError([f"{key}: {what} failed: {match['reason'] if match else text}"]) from None


@dataclass(frozen=True)
class PoolPlacement:
    """How a pool lands on the platform, for the plan's summary."""

    machine: str
    """The machine type (flavor, instance type, VM size) its ``size`` maps to."""
    fault_domains: tuple[str, ...] = ()
    """Where its nodes spread (availability zones, hosts); empty when the platform decides."""


class PlatformSection(Spec):
    """A platform's stack section, ``hybrid-infra:<platform>``: plain data, no SDK needed.

    Subclasses add their keys, their chart pins and their checks across sections.
    """

    storage_class_hint: ClassVar[str] = "name a StorageClass"
    """How a stack gets a default StorageClass on this platform, for the message when it has none."""
    size_map: ClassVar[str | None] = None
    """The field mapping the size names pools give (``cluster.pools[i].size``) to the platform's machines,
    such as its flavors: every size the cluster names on the platform must be one of its keys
    (:meth:`size_problems`). None: the section maps no sizes."""

    def check(self, stack: StackSpec) -> None:
        """The section's own checks across sections, run after :meth:`size_problems`: raise every problem
        at once (:func:`~hybrid_infra.config.errors.raise_problems`), each made by
        :func:`~hybrid_infra.config.errors.problem` with ``absolute=True``. A size the section does not
        map is refused already: skip it here."""

    def size_problems(self, platform: str, sizes: Iterable[tuple[str, str]]) -> list[PydanticCustomError]:
        """One problem for each ``(key, size)`` whose size the section does not map (:attr:`size_map`),
        naming the key, the size and the sizes there are; ``platform`` is the section's name."""
        if self.size_map is None:
            return []
        defined: Mapping[str, object] = getattr(self, self.size_map)
        field = type(self).model_fields[self.size_map]
        allowed = f"use a size defined in {platform}.{field.alias or self.size_map}: {', '.join(sorted(defined))}"
        return [
            problem(f"{size!r} is not allowed; {allowed}", key=key, absolute=True) for key, size in sizes if size not in defined
        ]

    def provides_storage_class(self) -> bool:
        """Whether the platform's cloud-provider add-on makes a default StorageClass."""
        return False

    def zones(self) -> list[str]:
        """The zones nodes spread over, in the order :func:`hybrid_infra.topology.zone_slot` fills them, named
        for a reader of the stack; one: the platform keeps every node in one failure zone."""
        return ["the platform's one zone"]

    @abstractmethod
    def placement(self, group: NodeGroup) -> PoolPlacement:
        """Machine type and fault domains of a pool."""

    def versions(self) -> list[str]:
        """The platform's pinned add-ons, as ``name version``, for the plan's summary."""
        return []

    def pins(self) -> list[Pin]:
        """The platform's default pins this section keeps, with the Kubernetes minors each supports."""
        return []


@dataclass(frozen=True)
class Node:
    """One VM that becomes a Kubernetes node."""

    name: str
    pool: str
    role: Role
    private_address: pulumi.Output[str]
    fault_domain: str
    machine: pulumi.CustomResource
    """The VM resource: what `pulumi up --replace` renews (see ``hybrid-infra rollout``)."""


class ApiEndpoint(pulumi.ComponentResource, ABC):
    """The Kubernetes API address, reserved before any node exists."""

    private_address: pulumi.Output[str]
    """Address the nodes use (load balancer address or reserved virtual IP)."""
    public_address: pulumi.Output[str]
    """Address clients outside the node network use; equals ``private_address`` when not public."""
    virtual_ip: pulumi.Output[str] | None
    """Set when no load balancer exists and the control plane must announce the address itself."""
    port: int = API_PORT
    """Port of the Kubernetes API."""

    @abstractmethod
    def add_members(self, nodes: Sequence[Node]) -> None:
        """Register the control-plane nodes behind the endpoint."""


class NodePool(pulumi.ComponentResource):
    """One pool's VMs, each booting with its own cloud-config."""

    nodes: list[Node]
    """The pool's nodes, in index order."""

    def __init__(
        self,
        t: str,
        name: str,
        props: pulumi.Inputs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        group: NodeGroup | None = None,
        user_data: Sequence[pulumi.Input[str]] = (),
    ):
        """Registers the pool; given its ``group``, only once ``user_data`` holds one cloud-config per node."""
        if group is not None and len(user_data) != group.count:
            raise ValueError(f"{name}: {len(user_data)} cloud-configs given for {group.count} nodes")
        super().__init__(t, name, props, opts)


Section = TypeVar("Section", bound=PlatformSection)
"""A platform's section model: each ``Infrastructure`` is generic in its own."""


class Infrastructure(pulumi.ComponentResource, ABC, Generic[Section]):
    """One platform's network and security, parent of the endpoint and node pools it creates;
    ``Infrastructure[OpenStackSpec]`` takes and keeps an OpenStack section."""

    platform: ClassVar[str]
    """The section name of the platform (``hybrid-infra:<platform>``)."""
    type_token: ClassVar[str]
    """The component's Pulumi type, ``hybrid-infra:index:<Class>``."""
    hints: PlatformHints
    """What the bootstrap may know about the platform."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        section: Section,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(self.type_token, name, None, opts)
        self.cluster = cluster
        self.section: Section = section

    @abstractmethod
    def create_endpoint(self, name: str) -> ApiEndpoint:
        """The API endpoint, a child of this component."""

    @abstractmethod
    def create_node_pool(
        self, name: str, group: NodeGroup, user_data: Sequence[pulumi.Input[str]], endpoint: ApiEndpoint
    ) -> NodePool:
        """One pool's VMs, a child of this component; ``user_data`` holds one cloud-config per node."""

    def store_control_plane_keys(self, name: str, files: pulumi.Output[dict[str, str]]) -> pulumi.Output[str]:
        """Keeps the control-plane key files (path to content, secret) where the program of
        ``hints.key_fetch`` finds them, in children of this component named after ``name``; returns an
        output known once they are stored, which the control-plane nodes' user data waits for.

        Called only when ``hints.key_fetch`` is set: a platform that sets it overrides this."""
        raise NotImplementedError(f"{type(self).__name__} sets hints.key_fetch but does not store the keys")

    @abstractmethod
    def create_cloud_provider(
        self, name: str, addons: AddonsSpec, opts: pulumi.ResourceOptions
    ) -> pulumi.ComponentResource | None:
        """The cloud-provider add-on (controller manager, CSI, default StorageClass), or None without one.

        ``opts`` carries the Kubernetes provider and what the add-on must come after.
        """
