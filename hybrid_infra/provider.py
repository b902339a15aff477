"""The components as a Pulumi component provider, for programs in every language.

``PulumiPlugin.yaml`` at the repository's root makes the repository a source-based plugin package:
``pulumi package add <repository>`` generates an SDK for TypeScript, Go, .NET, Java or YAML, and
the engine runs :func:`serve` (the root ``__main__.py``), which hosts the classes below with
Pulumi's component provider (:class:`ComponentsProvider`). Their schema comes from their annotations
and docstrings.

Each class here has the name, type token and purpose of the component it stands for, and builds
that component in its own place: the component is the resource the caller asked for, with the same
URN and tree as in a Python program, and the class registers nothing of its own (before, each did, and
the component nested in a copy of itself; an alias keeps such a stack's resources). Its arguments
are typed (``TypedDict``, as the host requires, with the keys of the stack sections: see
:mod:`hybrid_infra.config.args`) and validated with the same one-line messages as a stack file,
every problem of every argument at once, which reach the
engine as one ``InputPropertiesError`` naming each property (:class:`ComponentsProvider`); its
outputs are declared at class level. The add-ons and workloads create their objects through the
Kubernetes provider given to them (``providers`` in the resource options), made from a
``KubernetesCluster``'s kubeconfig. A release manifest given as a ``file`` is read relative to the
provider's working directory: give a mirror's URL instead.
"""

# No `from __future__ import annotations`: the provider host's analyzer reads the annotations as objects.
import importlib.metadata
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, NotRequired, Required, TypedDict, TypeVar

import pulumi
from pulumi.errors import InputPropertiesError, InputPropertyErrorDetails
from pulumi.provider import ConstructResult
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from . import cluster as _cluster
from . import platform as _platform
from . import platforms, workloads
from .addons import cdi, cni, kubevirt, metadata, multus, storage, upgrades
from .bootstrap import pki
from .config import args as typed
from .config.addons import AddonsSpec, StorageClassSpec
from .config.cluster import API_PORT, ClusterSpec
from .config.errors import ConfigError, validate
from .config.workloads import ContainerAppSpec, VirtualMachineSpec, WorkloadsSpec
from .platforms.args import PlatformSections
from .stack import NAMESPACE, StackSpec, parse_stack_config

T = TypeVar("T", bound=BaseModel)
PACKAGE = "hybrid-infra"
TYPE = PACKAGE + ":index:{}"


class ClusterNode(TypedDict):
    """A node of the cluster."""

    name: str
    """Node name, <cluster>-<pool>-<index>."""
    pool: str
    """Its pool."""
    role: str
    """control-plane or worker."""
    address: str
    """Its address in the node network."""
    # Spelled as on the wire: the SDK's component provider renames the fields of an object output,
    # but sends the objects of a list output as they are (ComponentProvider.get_state).
    faultDomain: str  # noqa: N815
    """Where it runs: availability zone, host, ..."""


def _cluster_nodes(nodes: pulumi.Output[list[dict[str, str]]]) -> pulumi.Output[list[ClusterNode]]:
    return nodes.apply(
        lambda found: [
            ClusterNode(
                name=node["name"],
                pool=node["pool"],
                role=node["role"],
                address=node["address"],
                faultDomain=node["faultDomain"],
            )
            for node in found
        ]
    )


def _as_written(value: Any, declared: Any) -> Any:
    """``value`` with the keys spelled as the schema and stack files spell them (camelCase), so that a
    problem names the key the caller wrote; the keys of maps (labels, flavors) stay as they are."""
    if typing.get_origin(declared) in (NotRequired, Required):
        declared = typing.get_args(declared)[0]
    if typing.is_typeddict(declared) and isinstance(value, dict):
        fields = declared.__annotations__
        return {to_camel(key): _as_written(item, fields.get(key)) for key, item in value.items()}
    if typing.get_origin(declared) is list and isinstance(value, list):
        return [_as_written(item, typing.get_args(declared)[0]) for item in value]
    return value


def _stack(cluster: typed.ClusterSpec, platform: PlatformSections, **sections: Any) -> StackSpec:
    """The stack the arguments describe, checked as a stack file is."""
    given = {"cluster": cluster, **platform, **{key: value for key, value in sections.items() if value is not None}}
    declared = {**typed.StackSections.__annotations__, **PlatformSections.__annotations__}
    return parse_stack_config({f"hybrid-infra:{key}": _as_written(value, declared[key]) for key, value in given.items()})


def _validate(model: type[T], value: Any, key: str, declared: Any) -> T:
    """One argument validated as its stack section is, problems naming the keys as the caller wrote them."""
    checked: T = validate(model, _as_written(value, declared), key)
    return checked


def _each(*validations: Callable[[], Any]) -> list[Any]:
    """Every argument validated, in order; the problems of all of them raised together."""
    checked, problems = [], []
    for validation in validations:
        try:
            checked.append(validation())
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)
    return checked


def _without_platform(cluster: typed.ClusterSpec, addons: typed.AddonsSpec | None) -> StackSpec:
    """The cluster and its add-ons, which is all that an add-on reads of a stack."""
    cluster_spec, addons_spec = _each(
        lambda: _validate(ClusterSpec, cluster, "cluster", typed.ClusterSpec),
        lambda: _validate(AddonsSpec, addons or {}, "addons", typed.AddonsSpec),
    )
    return StackSpec.model_construct(cluster=cluster_spec, addons=addons_spec, workloads=WorkloadsSpec())


def _in_its_place(name: str, token: str, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """The options of what a class here builds in its own place: the caller's, and an alias of the URN
    that the class's own resource had, as a parent.

    Before, each class registered a component of its own, of the same type token as the component it
    built as its only child: ``hybrid-infra:index:KubeVirt`` inside ``hybrid-infra:index:KubeVirt``.
    Now the built component is the resource the caller asked for (the same URN as that class's), and
    the resources under it, whose URNs lose the copy's type, inherit the alias: the engine finds each
    of them where the stack has it, and only the empty copy is deleted."""
    wrapper = pulumi.create_urn(name, token, parent=opts.parent if opts else None)
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=wrapper)]))


def _stand_for(component: pulumi.ComponentResource, built: pulumi.Resource) -> None:
    """``component`` stands for ``built`` and registers nothing itself: the provider answers the caller
    with the built component's URN (where ``Resource.urn`` reads it), and this class's outputs, which the
    provider reads from it."""
    vars(component)["urn"] = built.urn


class HybridPlatformArgs(TypedDict):
    cluster: typed.ClusterSpec
    """The Kubernetes cluster: the keys of hybrid-infra:cluster."""
    platform: PlatformSections
    """The platform the nodes run on: one section, as hybrid-infra:<platform>."""
    addons: NotRequired[typed.AddonsSpec]
    """Pinned versions and mirrors of the add-ons: the keys of hybrid-infra:addons."""
    workloads: NotRequired[typed.WorkloadsSpec]
    """Containers and virtual machines: the keys of hybrid-infra:workloads."""


class HybridPlatform(pulumi.ComponentResource):
    """The platform's infrastructure, a Kubernetes cluster on it, the add-ons in order (CNI, metadata policy,
    cloud provider, KubeVirt and CDI) and the workloads, containers and VMs side by side."""

    endpoint: pulumi.Output[str]
    """Address of the Kubernetes API."""
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig (secret)."""
    nodes: pulumi.Output[list[ClusterNode]]
    """Every node of the cluster."""

    def __init__(self, name: str, args: HybridPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        spec = _stack(args["cluster"], args["platform"], addons=args.get("addons"), workloads=args.get("workloads"))
        built = _platform.HybridPlatform(name, spec, _in_its_place(name, TYPE.format("HybridPlatform"), opts))
        _stand_for(self, built)
        self.endpoint = built.endpoint
        self.kubeconfig = built.kubeconfig
        self.nodes = _cluster_nodes(built.nodes)


class KubernetesClusterArgs(TypedDict):
    cluster: typed.ClusterSpec
    """The Kubernetes cluster: the keys of hybrid-infra:cluster."""
    platform: PlatformSections
    """The platform the nodes run on: one section, as hybrid-infra:<platform>; its network is made too."""


class KubernetesCluster(pulumi.ComponentResource):
    """The platform's network, then the PKI and the API endpoint, then every node at once, bootstrapped by
    kubeadm without SSH; the admin kubeconfig out of Pulumi once the API answers."""

    endpoint: pulumi.Output[str]
    """Address clients use to reach the Kubernetes API."""
    api_address: pulumi.Output[str]
    """Address the nodes use to reach the Kubernetes API (what the Cni component takes)."""
    api_port: pulumi.Output[int]
    """Port of the Kubernetes API."""
    server: pulumi.Output[str]
    """https://<endpoint>:<port>: the API as clients outside the node network reach it."""
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig (secret): make the Kubernetes provider of the add-ons and workloads from it."""
    nodes: pulumi.Output[list[ClusterNode]]
    """Every node of the cluster."""
    user_data: pulumi.Output[dict[str, str]]
    """Every node's cloud-config by node name (secret: it carries the join token and CA keys)."""
    machines: pulumi.Output[dict[str, str]]
    """The URN of every node's VM resource by node name: what `pulumi up --replace` renews."""

    def __init__(self, name: str, args: KubernetesClusterArgs, opts: pulumi.ResourceOptions | None = None):
        spec = _stack(args["cluster"], args["platform"])
        infrastructure = platforms.infrastructure_class(spec.platform)
        # The platform's network beside the cluster, as in a HybridPlatform (before: under this class's own resource).
        in_place = _in_its_place(name, TYPE.format("KubernetesCluster"), opts)
        built = _cluster.KubernetesCluster(
            name, spec.cluster, infrastructure(f"{name}-{spec.platform}", spec.cluster, spec.platform_section, in_place), in_place
        )
        _stand_for(self, built)
        self.endpoint = built.endpoint
        self.api_address = built.api_address
        self.api_port = pulumi.Output.from_input(built.api_port)
        self.server = built.server
        self.kubeconfig = built.kubeconfig
        self.nodes = _cluster_nodes(built.nodes)
        self.user_data = built.user_data
        self.machines = built.machines


class ClusterPkiArgs(TypedDict):
    cluster: typed.ClusterSpec
    """The cluster the PKI is for: its name, its nodes (each gets a join token of its own) and its pki keys."""


class ClusterPki(pulumi.ComponentResource):
    """Certificate authorities, service-account keys, an admin certificate, a join token per node and an
    encryption key, made by Pulumi as Cluster API's kubeadm bootstrap makes them."""

    ca_cert: pulumi.Output[str]
    """Cluster CA certificate (PEM)."""
    admin_cert: pulumi.Output[str]
    """Admin client certificate (PEM), signed by the cluster CA."""
    admin_key: pulumi.Output[str]
    """Admin client key (PEM, secret)."""
    join_tokens: pulumi.Output[dict[str, str]]
    """Every node's kubeadm bootstrap token by node name (secret), each issued with its node."""
    join_token_expirations: pulumi.Output[dict[str, str]]
    """When each node's token stops working (RFC 3339, UTC)."""

    def __init__(self, name: str, args: ClusterPkiArgs, opts: pulumi.ResourceOptions | None = None):
        cluster = _validate(ClusterSpec, args["cluster"], "cluster", typed.ClusterSpec)
        built = pki.ClusterPki(name, cluster, _in_its_place(name, TYPE.format("ClusterPki"), opts))
        _stand_for(self, built)
        self.ca_cert = built.ca_cert
        self.admin_cert = built.admin_cert
        self.admin_key = built.admin_key
        self.join_tokens = pulumi.Output.secret(
            pulumi.Output.all(**{node: token.token for node, token in built.join_tokens.items()})
        )
        self.join_token_expirations = pulumi.Output.all(
            **{node: token.expiration for node, token in built.join_tokens.items()}
        )


class CniArgs(TypedDict):
    cluster: typed.ClusterSpec
    """The cluster: its CNI (cilium or calico) and pod network."""
    addons: NotRequired[typed.AddonsSpec]
    """The CNI's chart, pinned (charts.cilium or charts.calico)."""
    api_address: pulumi.Input[str]
    """The address the nodes reach the API at: KubernetesCluster's apiAddress."""
    api_port: NotRequired[int]
    """Port of the API (6443 by default)."""


class Cni(pulumi.ComponentResource):
    """The pod network, Cilium or Calico, from its Helm chart: the first add-on of a new cluster."""

    chart_version: pulumi.Output[str]
    """Version of the CNI's chart."""

    def __init__(self, name: str, args: CniArgs, opts: pulumi.ResourceOptions | None = None):
        spec = _without_platform(args["cluster"], args.get("addons"))
        in_place = _in_its_place(name, TYPE.format("Cni"), opts)
        _stand_for(self, cni.Cni(name, spec.cluster, spec.addons, args["api_address"], args.get("api_port", API_PORT), in_place))
        self.chart_version = pulumi.Output.from_input(getattr(spec.addons.charts, spec.cluster.cni).version)


class MetadataPolicyArgs(TypedDict):
    cluster: typed.ClusterSpec
    """The cluster: its CNI decides the kind of policy."""


class MetadataPolicy(pulumi.ComponentResource):
    """The CNI's cluster-wide policy that denies pods the cloud's metadata service, which holds the nodes' keys;
    give it the Cni as a dependency, and make everything else depend on it."""

    policies: pulumi.Output[list[str]]
    """Names of the policy objects."""

    def __init__(self, name: str, args: MetadataPolicyArgs, opts: pulumi.ResourceOptions | None = None):
        cluster = _validate(ClusterSpec, args["cluster"], "cluster", typed.ClusterSpec)
        _stand_for(self, metadata.MetadataPolicy(name, cluster, _in_its_place(name, TYPE.format("MetadataPolicy"), opts)))
        documents = [metadata.cilium_policy()] if cluster.cni == "cilium" else metadata.calico_policies()
        self.policies = pulumi.Output.from_input([document["metadata"]["name"] for document in documents])


class AddonArgs(TypedDict):
    cluster: typed.ClusterSpec
    """The cluster: its pools decide where the add-on runs."""
    addons: NotRequired[typed.AddonsSpec]
    """The add-on's version, manifest and settings."""


def _manifest(record: dict[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(str(record["url"] or record["file"]))


class KubeVirt(pulumi.ComponentResource):
    """KubeVirt from its release operator, then the KubeVirt resource, awaited until Available; VMs run on
    the pools marked for virtualization."""

    version: pulumi.Output[str]
    """KubeVirt release."""
    operator_manifest: pulumi.Output[str]
    """Where the operator manifest comes from (URL or file)."""

    def __init__(self, name: str, args: AddonArgs, opts: pulumi.ResourceOptions | None = None):
        spec = _without_platform(args["cluster"], args.get("addons"))
        built = kubevirt.KubeVirt(name, spec, Path.cwd(), _in_its_place(name, TYPE.format("KubeVirt"), opts))
        _stand_for(self, built)
        self.version = pulumi.Output.from_input(spec.addons.kubevirt.version)
        self.operator_manifest = _manifest(built.operator_manifest)


class Cdi(pulumi.ComponentResource):
    """CDI, which imports VM disks, from its release operator, then the CDI resource, awaited until Available."""

    version: pulumi.Output[str]
    """CDI release."""
    operator_manifest: pulumi.Output[str]
    """Where the operator manifest comes from (URL or file)."""

    def __init__(self, name: str, args: AddonArgs, opts: pulumi.ResourceOptions | None = None):
        spec = _without_platform(args["cluster"], args.get("addons"))
        built = cdi.Cdi(name, spec, Path.cwd(), _in_its_place(name, TYPE.format("Cdi"), opts))
        _stand_for(self, built)
        self.version = pulumi.Output.from_input(spec.addons.cdi.version)
        self.operator_manifest = _manifest(built.operator_manifest)


class Multus(pulumi.ComponentResource):
    """Multus, for VMs' extra networks (NetworkAttachmentDefinitions), beside the cluster's CNI."""

    version: pulumi.Output[str]
    """Multus release."""
    manifest: pulumi.Output[str]
    """Where its manifest comes from (URL or file)."""

    def __init__(self, name: str, args: AddonArgs, opts: pulumi.ResourceOptions | None = None):
        spec = _without_platform(args["cluster"], args.get("addons"))
        built = multus.Multus(name, spec, Path.cwd(), _in_its_place(name, TYPE.format("Multus"), opts))
        _stand_for(self, built)
        self.version = pulumi.Output.from_input(spec.addons.multus.version)
        self.manifest = _manifest(built.manifest)


class SystemUpgrade(pulumi.ComponentResource):
    """The system-upgrade-controller and the Plans that move running nodes to the cluster's Kubernetes version,
    the control plane first and one at a time, drained."""

    version: pulumi.Output[str]
    """Release of the system-upgrade-controller."""
    plans: pulumi.Output[list[str]]
    """Names of the Plans."""

    def __init__(self, name: str, args: AddonArgs, opts: pulumi.ResourceOptions | None = None):
        spec = _without_platform(args["cluster"], args.get("addons"))
        _stand_for(self, upgrades.SystemUpgrade(name, spec, Path.cwd(), _in_its_place(name, TYPE.format("SystemUpgrade"), opts)))
        self.version = pulumi.Output.from_input(spec.addons.system_upgrade.version)
        self.plans = pulumi.Output.from_input([f"hybrid-infra-{role}" for role in upgrades.PLANS])


class DefaultStorageClassArgs(TypedDict):
    storage_class: NotRequired[typed.StorageClassSpec]
    """Name and reclaim policy of the StorageClass."""
    provisioner: str
    """The CSI driver that provisions its volumes."""
    parameters: NotRequired[dict[str, str]]
    """The driver's parameters."""


class DefaultStorageClass(pulumi.ComponentResource):
    """The cluster's default StorageClass, binding volumes where their pod is scheduled."""

    name: pulumi.Output[str]
    """Name of the StorageClass."""

    def __init__(self, name: str, args: DefaultStorageClassArgs, opts: pulumi.ResourceOptions | None = None):
        settings = _validate(StorageClassSpec, args.get("storage_class") or {}, "storageClass", typed.StorageClassSpec)
        in_place = _in_its_place(name, TYPE.format("DefaultStorageClass"), opts)
        _stand_for(
            self, storage.DefaultStorageClass(name, settings, args["provisioner"], dict(args.get("parameters") or {}), in_place)
        )
        self.name = pulumi.Output.from_input(settings.name)


class ContainerAppArgs(TypedDict):
    app: typed.ContainerAppSpec
    """The app: its image, replicas and port."""


class ContainerApp(pulumi.ComponentResource):
    """A stateless app in containers: a Deployment and the Service in front of it."""

    service: pulumi.Output[str]
    """The Service's name in the cluster's DNS: <name>.<namespace>.svc."""

    def __init__(self, name: str, args: ContainerAppArgs, opts: pulumi.ResourceOptions | None = None):
        app = _validate(ContainerAppSpec, args["app"], "app", typed.ContainerAppSpec)
        _stand_for(self, workloads.ContainerApp(name, app, _in_its_place(name, TYPE.format("ContainerApp"), opts)))
        self.service = pulumi.Output.from_input(f"{app.name}.{app.namespace}.svc")


class VirtualMachineArgs(TypedDict):
    vm: typed.VirtualMachineSpec
    """The VM: its disk, size, ports and who may reach them."""
    cluster: typed.ClusterSpec
    """The cluster: its virtualization pools are where the VM runs."""
    allowed_apps: NotRequired[list[typed.ContainerAppSpec]]
    """The container apps the VM's allowFrom names: only their pods reach its ports."""
    read_write_many: NotRequired[bool]
    """Ask for a disk two nodes can attach at once, which live migration needs."""


class VirtualMachine(pulumi.ComponentResource):
    """A legacy VM lifted and shifted: its disk imported by CDI, run by KubeVirt beside the pods, its ports
    behind a Service; give it KubeVirt and Cdi as dependencies."""

    service: pulumi.Output[str]
    """The Service's name in the cluster's DNS, <name>.<namespace>.svc; empty when the VM serves no port."""

    def __init__(self, name: str, args: VirtualMachineArgs, opts: pulumi.ResourceOptions | None = None):
        apps = list(args.get("allowed_apps") or [])
        cluster, *allowed, vm = _each(
            lambda: _validate(ClusterSpec, args["cluster"], "cluster", typed.ClusterSpec),
            *(
                lambda i=i, app=app: _validate(ContainerAppSpec, app, f"allowedApps[{i}]", typed.ContainerAppSpec)
                for i, app in enumerate(apps)
            ),
            lambda: _validate(VirtualMachineSpec, args["vm"], "vm", typed.VirtualMachineSpec),
        )
        in_place = _in_its_place(name, TYPE.format("VirtualMachine"), opts)
        built = workloads.VirtualMachine(
            name, vm, cluster, in_place, allowed_apps=allowed, read_write_many=args.get("read_write_many", False)
        )
        _stand_for(self, built)
        self.service = pulumi.Output.from_input(f"{built.vm.name}.{built.vm.namespace}.svc" if built.vm.ports else "")


COMPONENTS: list[type[pulumi.ComponentResource]] = [
    HybridPlatform,
    KubernetesCluster,
    ClusterPki,
    Cni,
    MetadataPolicy,
    KubeVirt,
    Cdi,
    Multus,
    SystemUpgrade,
    DefaultStorageClass,
    ContainerApp,
    VirtualMachine,
]
"""What the provider hosts: every public component of ``hybrid_infra``."""


class ComponentsProvider(ComponentProvider):
    """Pulumi's provider of components (the schema from their annotations), whose bad inputs reach the
    engine as ``InputPropertiesError``: every problem with the path of its property, as the engine
    prints it, instead of a stack trace.

    Pulumi's own wraps whatever a component's constructor raises in a ``ComponentInitError``,
    which the engine gets as an unknown error; here a :class:`ConfigError` becomes the error it means."""

    def construct(
        self, name: str, resource_type: str, inputs: pulumi.Inputs, options: pulumi.ResourceOptions | None = None
    ) -> ConstructResult:
        try:
            return super().construct(name, resource_type, inputs, options)
        except ComponentInitError as error:
            if not isinstance(error.inner, ConfigError):
                raise
            raise input_properties_error(f"{resource_type} {name!r}", error.inner) from None


def input_properties_error(component: str, error: ConfigError) -> InputPropertiesError:
    """The problems of a component's inputs, each with the path of its property (``cluster.pools[0].size``,
    ``platform.<platform>.image``): the keys of a stack section lie under the input that carries it."""
    errors: list[InputPropertyErrorDetails] = [
        {"property_path": _property_path(key), "reason": reason} for key, reason in error.keyed()
    ]
    return InputPropertiesError(f"invalid inputs of {component}", errors)


def _property_path(key: str) -> str:
    key = key.removeprefix(f"{NAMESPACE}:")
    section = re.split(r"[.\[]", key, maxsplit=1)[0]
    return f"platform.{key}" if section in platforms.names() else key


def component_provider(version: str) -> ComponentsProvider:
    """The provider of :data:`COMPONENTS` at ``version``."""
    return ComponentsProvider(COMPONENTS, PACKAGE, version=version)


def serve() -> None:
    """Run the component provider (the engine starts it; it reads the engine's address from the arguments)."""
    from pulumi.provider import main

    main(component_provider(importlib.metadata.version(PACKAGE)), sys.argv[1:])
