"""HybridPlatform: the whole thing, from one validated stack spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from . import platforms
from .addons.cdi import Cdi
from .addons.cni import Cni
from .addons.kubevirt import KubeVirt
from .addons.metadata import CALICO_API_SERVICE, MetadataPolicy
from .addons.multus import Multus
from .addons.snapshots import install_controller, install_crds
from .addons.upgrades import SystemUpgrade, VersionGuard
from .cluster import KubernetesCluster
from .config.errors import ConfigError
from .config.versions import unsupported_warnings
from .objects import create_object
from .platforms.contract import Infrastructure
from .readiness import ApiServiceGate, UpgradeGate
from .stack import StackSpec, from_pulumi_config
from .topology import node_groups
from .workloads import ContainerApp, VirtualMachine

BUILT_IN_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


class HybridPlatform(pulumi.ComponentResource):
    """Infrastructure, the Kubernetes cluster, its add-ons in order, and the workloads beside each other.

    Order: CNI -> metadata policy -> cloud provider, CSI and storage class -> KubeVirt and CDI -> workloads.
    With volume snapshots: the snapshot CRDs and then the snapshot controller after the metadata policy, beside
    the cloud provider, whose VolumeSnapshotClass alone waits for the CRDs; KubeVirt and CDI after all of them.
    """

    endpoint: pulumi.Output[str]
    """Address of the Kubernetes API."""
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig (secret)."""
    nodes: pulumi.Output[list[dict[str, str]]]
    """Every node of the cluster."""

    def __init__(
        self,
        name: str,
        spec: StackSpec,
        opts: pulumi.ResourceOptions | None = None,
        base_dir: Path | None = None,
    ):
        """``base_dir`` resolves manifest files named in the stack; default: the working directory."""
        # Before anything is registered: a platform whose SDK is missing is a configuration error.
        components = {platform: platforms.infrastructure_class(platform) for platform in spec.sections}
        super().__init__("hybrid-infra:index:HybridPlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        base_dir = base_dir or Path.cwd()
        self.spec = spec
        # First of all: the engine checks the asked versions against the running ones before any change.
        self.versions = VersionGuard(f"{name}-versions", spec, child)
        for line in [*unsupported_warnings(spec.cluster.kubernetes_version, spec.pins()), *spec.warnings()]:
            pulumi.log.warn(line, self)
        self.infrastructure: dict[str, Infrastructure[Any]] = {
            platform: component(f"{name}-{platform}", spec.cluster, spec.sections[platform], child)
            for platform, component in components.items()
        }
        self.cluster = KubernetesCluster(f"{name}-cluster", spec.cluster, self.infrastructure, child)

        def after(*resources: pulumi.Resource | None) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, provider=self.cluster.provider, depends_on=[r for r in resources if r is not None]
            )

        self.cni = Cni(
            f"{name}-cni",
            spec.cluster,
            spec.addons,
            self.cluster.api_address,
            self.cluster.api_port,
            after(),
            base_dir,
            crds_provider=self.cluster.adopting_provider,
        )
        # Calico's policies are projectcalico.org/v3 objects, which its API server serves once it runs.
        calico_api = (
            ApiServiceGate(
                f"{name}-calico-api",
                server=self.cluster.server,
                ca_cert=self.cluster.pki.ca_cert,
                client_cert=self.cluster.pki.admin_cert,
                client_key=self.cluster.pki.admin_key,
                api_service=CALICO_API_SERVICE,
                timeout_seconds=spec.cluster.readiness_timeout_seconds,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cni]),
            )
            if spec.cluster.cni == "calico"
            else None
        )
        # Before anything else schedules: no pod may ever reach the nodes' user data.
        self.metadata_policy = MetadataPolicy(f"{name}-metadata-policy", spec.cluster, after(self.cni, calico_api))
        network = (self.cni, self.metadata_policy)
        self.multus = Multus(f"{name}-multus", spec, base_dir, after(*network)) if spec.addons.multus.enabled else None
        # volumeSnapshots.enabled decided: on by default where KubeVirt runs.
        addons = spec.addons.for_cluster(spec.virtualization)
        self.snapshot_crds: list[pulumi.CustomResource] = []
        self.snapshot_controller: list[pulumi.CustomResource] = []
        self.snapshot_manifests: list[dict[str, Any]] = []
        """The pinned source of each external-snapshotter file, and whether it was expanded."""
        if addons.volume_snapshots.enabled:
            self.snapshot_crds, records = install_crds(self, f"{name}-snapshot-crds", spec, base_dir, after(*network))
            # Not after the cloud provider: its pods wait for the nodes the controller manager initializes,
            # which Pulumi's wait for the Deployment covers, so the two come up side by side.
            self.snapshot_controller, more = install_controller(
                self, f"{name}-snapshot-controller", spec, base_dir, after(*network, *self.snapshot_crds)
            )
            self.snapshot_manifests = [*records, *more]
        # The cloud provider hands the CRDs to its VolumeSnapshotClass alone (addons.storage.snapshot_dependencies).
        self.cloud_provider = self.infrastructure[spec.platform].create_cloud_provider(
            f"{name}-{spec.platform}", addons, after(*network, *self.snapshot_crds)
        )
        snapshots = (*self.snapshot_crds, *self.snapshot_controller)

        self.kubevirt = self.cdi = None
        if spec.virtualization:
            self.kubevirt = KubeVirt(f"{name}-kubevirt", spec, base_dir, after(*network, self.cloud_provider, *snapshots))
            self.cdi = Cdi(f"{name}-cdi", spec, base_dir, after(*network, self.cloud_provider, *snapshots))

        workloads = spec.workloads
        used = {app.namespace for app in workloads.containers} | {vm.namespace for vm in workloads.virtual_machines}
        namespaces = [
            create_object(
                f"{name}-namespace-{namespace}",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                after(*network),
            )
            for namespace in sorted(used - BUILT_IN_NAMESPACES)
        ]
        self.apps = {
            app.name: ContainerApp(f"{name}-{app.name}", app, after(*network, *namespaces))
            for app in workloads.containers
        }
        self.virtual_machines = {}
        # The platform's CSI makes the class beside its default one (addons.storage.DefaultStorageClass).
        provides = spec.platform_section.provides_storage_class()
        vm_disk_class = addons.storage_class.vm_disk_class if provides else None
        for vm in workloads.virtual_machines:
            ready = [self.kubevirt.resource, self.cdi.resource] if self.kubevirt and self.cdi else []
            self.virtual_machines[vm.name] = VirtualMachine(
                f"{name}-{vm.name}",
                vm,
                spec.cluster,
                after(*network, *ready, self.multus, *namespaces),
                allowed_apps=[self.apps[source].app for source in vm.allow_from],
                read_write_many=spec.addons.storage_class.read_write_many,
                disk_class=vm_disk_class,
            )

        # A new kubernetesVersion reaches running nodes through the Plans; `pulumi up` waits for every node.
        self.upgrade = SystemUpgrade(f"{name}-upgrade", spec, base_dir, after(*network, self.versions))
        self.upgraded = UpgradeGate(
            f"{name}-upgraded",
            server=self.cluster.server,
            ca_cert=self.cluster.pki.ca_cert,
            client_cert=self.cluster.pki.admin_cert,
            client_key=self.cluster.pki.admin_key,
            version=spec.cluster.kubernetes_version,
            nodes=[node for group in node_groups(spec.cluster) for node in group.node_names],
            timeout_seconds=spec.cluster.upgrade.timeout_minutes * 60,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.upgrade.plans, *network]),
        )

        self.endpoint = self.cluster.endpoint
        self.kubeconfig = self.cluster.kubeconfig
        self.nodes = self.cluster.nodes
        self.register_outputs({"endpoint": self.endpoint, "nodes": self.nodes})


def build(spec: StackSpec, base_dir: Path | None = None) -> HybridPlatform:
    """The platform of one stack and its stack outputs."""
    platform = HybridPlatform(spec.cluster.name, spec, base_dir=base_dir)
    pulumi.export("platform", spec.platform)
    pulumi.export("kubernetesVersion", spec.cluster.kubernetes_version)
    if spec.virtualization:
        pulumi.export("kubevirtVersion", spec.addons.kubevirt.version)
        pulumi.export("cdiVersion", spec.addons.cdi.version)
    pulumi.export("endpoint", platform.endpoint)
    pulumi.export("kubeconfig", platform.kubeconfig)
    pulumi.export("nodes", platform.nodes)
    return platform


def program() -> HybridPlatform:
    """The Pulumi program of this project: what ``pulumi up`` runs (``hybrid-infra plan`` runs ``build``)."""
    try:
        return build(from_pulumi_config())
    except ConfigError as error:
        raise pulumi.RunError("invalid stack configuration:\n" + str(error)) from None
