"""vSphere cloud integration: the cloud provider (CPI) from its chart, the CSI driver from its pinned
release manifest, the default StorageClass by storage policy and the default VolumeSnapshotClass."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from ...addons.helm import release
from ...addons.manifests import PinnedManifest, install_release
from ...addons.storage import DefaultStorageClass, snapshot_dependencies
from ...config.addons import AddonsSpec
from ...config.cluster import ClusterSpec
from ...config.errors import ConfigError
from ...config.fields import secret_input
from ...objects import child_options, create_object
from .config import VSphereCloudProviderSpec, VSphereCsiDriverSpec, VSphereSpec

VCENTER_PORT = 443
CPI_CONFIG_MAP = "cloud-config"
"""The ConfigMap chart vsphere-cpi 1.35.1 mounts whole at /etc/cloud when its ``config.enabled`` is false
(templates/daemonset.yaml, volume ``vsphere-config-volume``); it reads ``vsphere.conf`` there
(values.yaml, ``daemonset.cmdline.cloudConfig``)."""
CPI_CONFIG_DIR = "/etc/cloud"
CPI_CREDENTIALS_SECRET = "vsphere-cloud-secret"
CSI_NAMESPACE = "vmware-system-csi"
CSI_CONFIG_SECRET = "vsphere-config-secret"
"""The Secret the v3.7.3 manifest mounts whole at /etc/cloud in the controller's ``vsphere-csi-controller``
and ``vsphere-syncer`` containers (manifests/vanilla/vsphere-csi-driver.yaml, volume
``vsphere-config-volume``), which read ``csi-vsphere.conf`` there (``VSPHERE_CSI_CONFIG``)."""
CSI_CONFIG_DIR = "/etc/cloud"
CSI_CONFIG_FILE = "csi-vsphere.conf"
CSI_CONTROLLER = "vsphere-csi-controller"
"""The v3.7.3 manifest's controller Deployment: 3 replicas, each required on a different node
(podAntiAffinity on kubernetes.io/hostname) that is a control-plane node (nodeAffinity)."""
CSI_PROVISIONER = "csi.vsphere.vmware.com"
"""Also the driver of its VolumeSnapshotClass: v3.7.3 snapshots block volumes. Its feature state
``block-volume-snapshot`` is released for vanilla Kubernetes, on whatever the
internal-feature-states.csi.vsphere.vmware.com ConfigMap says (pkg/csi/service/common/commonco/
k8sorchestrator/k8sorchestrator.go, getReleasedVanillaFSS and IsFSSEnabled), and the release manifest runs
the csi-snapshotter v8.2.0 sidecar in the controller (manifests/vanilla/vsphere-csi-driver.yaml). vCenter
must be 7.0 Update 3 or later (pkg/common/cns-lib/vsphere/virtualcentermanager.go, IsCnsSnapshotSupported),
and a volume holds at most 3 snapshots unless csi-vsphere.conf says otherwise (pkg/common/config/config.go,
DefaultGlobalMaxSnapshotsPerBlockVolume)."""
CA_BUNDLE_FILE = "vcenter-ca.pem"
"""``cloudProvider.caBundle`` as a key of the CPI's ConfigMap and of the CSI driver's Secret: each is
mounted whole, so the bundle is a file beside the component's config."""


def cpi_config(cluster: ClusterSpec, spec: VSphereSpec, provider: VSphereCloudProviderSpec) -> str:
    """``vsphere.conf`` of the CPI, in the YAML form cloud-provider-vsphere v1.35.1 reads (pkg/common/config
    and pkg/cloudprovider/vsphere/config types_yaml.go); credentials come from a Secret, not from here.

    The CA or thumbprint goes under ``global``, which every vCenter without its own inherits
    (pkg/common/config/config_yaml.go, validateConfig). The YAML key is ``caFile`` (types_yaml.go): the
    chart's own template (templates/configmap.yaml) writes ``ca-file``, the INI form's key
    (types_ini_legacy.go), which ReadRawConfigYAML's non-strict gopkg.in/yaml.v2 Unmarshal ignores.
    """
    glob: dict[str, Any] = {
        "port": VCENTER_PORT,
        "secretName": CPI_CREDENTIALS_SECRET,
        "secretNamespace": "kube-system",
    }
    if provider.ca_bundle:
        glob["caFile"] = f"{CPI_CONFIG_DIR}/{CA_BUNDLE_FILE}"
    if provider.thumbprint:
        glob["thumbprint"] = provider.thumbprint
    # A node's InternalIP comes from the node network, never from the API's virtual IP that
    # kube-vip adds to a control-plane NIC.
    nodes = {"internalNetworkSubnetCidr": cluster.network.node_cidr}
    if cluster.endpoint.type == "vip":
        nodes["excludeInternalNetworkSubnetCidr"] = f"{spec.endpoint.address}/32"
    document = {
        "global": glob,
        "vcenter": {provider.server: {"server": provider.server, "datacenters": [spec.datacenter]}},
        "nodes": nodes,
    }
    return yaml.safe_dump(document, sort_keys=False)


def cpi_config_files(cluster: ClusterSpec, spec: VSphereSpec, provider: VSphereCloudProviderSpec) -> dict[str, str]:
    """The CPI's ConfigMap: ``vsphere.conf``, and the CA bundle its ``caFile`` names."""
    files = {"vsphere.conf": cpi_config(cluster, spec, provider)}
    if provider.ca_bundle:
        files[CA_BUNDLE_FILE] = provider.ca_bundle
    return files


def cpi_credentials(provider: VSphereCloudProviderSpec, password: str | None = None) -> dict[str, str]:
    """The CPI's credential Secret: ``<server>.username`` and ``<server>.password``
    (pkg/common/credentialmanager/credentialmanager.go, v1.35.1).

    ``password``: its value, when the section holds it as a Pulumi output.
    """
    return {
        f"{provider.server}.username": provider.username,
        f"{provider.server}.password": password if password is not None else provider.password.get_secret_value(),
    }


def _gcfg_quoted(value: str) -> str:
    # gcfg (the driver's INI reader) takes a quoted value with \\ and \" escaped.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _csi_trust(provider: VSphereCloudProviderSpec) -> dict[str, str]:
    if provider.ca_bundle:
        return {"ca-file": f"{CSI_CONFIG_DIR}/{CA_BUNDLE_FILE}"}
    if provider.thumbprint:
        return {"thumbprint": provider.thumbprint}
    return {}


def csi_config(spec: VSphereSpec, provider: VSphereCloudProviderSpec, password: str | None = None) -> str:
    """``csi-vsphere.conf`` of the CSI driver, with the keys v3.7.3 reads (pkg/common/config/types.go).

    The CA file or thumbprint goes under both sections: v3.7.3 reads them from [VirtualCenter], then
    [Global], in pkg/common/cns-lib/vsphere/utils.go GetVirtualCenterConfigs (the controller, the
    syncer's volume managers), but from [Global] only in GetVirtualCenterConfig of the same file,
    which GetVirtualCenterInstance (virtualcenter.go) calls for the syncer's CNS operator
    (pkg/syncer/cnsoperator/manager/init.go) and its volume registration and metadata controllers.

    No ``cluster-id``: on vanilla Kubernetes the driver generates one and keeps it in a ConfigMap.
    ``password``: its value, when the section holds it as a Pulumi output.
    """
    trust = _csi_trust(provider)
    values = {
        "user": provider.username,
        "password": password if password is not None else provider.password.get_secret_value(),
        "port": str(VCENTER_PORT),
        "datacenters": spec.datacenter,
        **trust,
    }
    lines = ["[Global]", *(f"{key} = {_gcfg_quoted(value)}" for key, value in trust.items()), ""] if trust else []
    lines.append(f"[VirtualCenter {_gcfg_quoted(provider.server)}]")
    lines += [f"{key} = {_gcfg_quoted(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def csi_config_files(spec: VSphereSpec, provider: VSphereCloudProviderSpec, password: str | None = None) -> dict[str, str]:
    """The CSI driver's Secret: ``csi-vsphere.conf``, and the CA bundle its ``ca-file`` names."""
    files = {CSI_CONFIG_FILE: csi_config(spec, provider, password)}
    if provider.ca_bundle:
        files[CA_BUNDLE_FILE] = provider.ca_bundle
    return files


def adjust_csi_manifest(cluster: ClusterSpec) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The release manifest with no more controller replicas than control-plane nodes: each replica must
    run on a control-plane node without another (see :data:`CSI_CONTROLLER`), so 3 replicas on one node
    never become ready. The pinned release's 3 stay with 3 or more control-plane nodes."""
    count = cluster.control_plane.count

    def adjust(item: dict[str, Any]) -> dict[str, Any]:
        metadata = item.get("metadata") or {}
        spec = item.get("spec") or {}
        if (
            item["kind"] == "Deployment"
            and (metadata.get("name"), metadata.get("namespace")) == (CSI_CONTROLLER, CSI_NAMESPACE)
            and isinstance(spec.get("replicas"), int)
            and spec["replicas"] > count
        ):
            item = copy.deepcopy(item)
            item["spec"]["replicas"] = count
        return item

    return adjust


def pinned_csi_manifest(driver: VSphereCsiDriverSpec) -> PinnedManifest:
    """The CSI driver's release manifest, pinned by version and sha256."""
    return PinnedManifest("vsphere-csi", driver.version, driver.source, driver.release_url, "vsphere.csiDriver")


class VSphereCloudProvider(pulumi.ComponentResource):
    """The vSphere CPI from its chart, the CSI driver from its release manifest, and a default StorageClass."""

    csi_manifest: dict[str, Any]
    """The pinned source of the CSI driver's manifest, and whether it was expanded."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        addons: AddonsSpec,
        spec: VSphereSpec,
        opts: pulumi.ResourceOptions,
    ):
        provider = spec.cloud_provider
        if provider is None:
            raise ConfigError(["vsphere.cloudProvider: required key is missing; the cloud provider needs credentials"])
        # Only the VolumeSnapshotClass waits for the snapshot CRDs.
        opts, snapshot_crds = snapshot_dependencies(opts)
        super().__init__("hybrid-infra:index:VSphereCloudProvider", name, None, opts)
        child = child_options(self, opts)
        # The password as given: text from the stack file, or a Pulumi output (config.require_secret).
        password = pulumi.Output.secret(secret_input(provider.password))

        cpi_config_map = k8s.core.v1.ConfigMap(
            f"{name}-cpi-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CPI_CONFIG_MAP, namespace="kube-system"),
            data=cpi_config_files(cluster, spec, provider),
            opts=child,
        )
        cpi_credentials_secret = k8s.core.v1.Secret(
            f"{name}-cpi-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CPI_CREDENTIALS_SECRET, namespace="kube-system"),
            type="Opaque",
            string_data=password.apply(lambda value: cpi_credentials(provider, value)),
            opts=child,
        )
        self.controller_manager = release(
            f"{name}-cpi",
            "vsphere-cpi",
            "vsphere-cpi",
            spec.charts.cloud_controller_manager,
            "kube-system",
            # Not the chart's own ConfigMap and Secret: those would put the password into the values.
            {"config": {"enabled": False}},
            child_options(self, opts, cpi_config_map, cpi_credentials_secret),
        )

        namespace = create_object(
            f"{name}-csi-namespace",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CSI_NAMESPACE}},
            child,
        )
        csi_config_secret = k8s.core.v1.Secret(
            f"{name}-csi-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CSI_CONFIG_SECRET, namespace=CSI_NAMESPACE),
            type="Opaque",
            string_data=password.apply(lambda value: csi_config_files(spec, provider, value)),
            opts=child_options(self, opts, namespace),
        )
        # The source is a URL pinned by its digest, never a local file: no directory to resolve against.
        self.csi, record = install_release(
            self,
            f"{name}-csi",
            pinned_csi_manifest(spec.csi_driver),
            Path.cwd(),
            child_options(self, opts, namespace, csi_config_secret),
            adjust_csi_manifest(cluster),
        )
        # The plan shows the change even where it cannot fetch the manifest.
        self.csi_manifest = {**record, "controllerReplicasAtMost": cluster.control_plane.count}

        policy = spec.storage_class.storage_policy
        self.storage_class = DefaultStorageClass(
            f"{name}-storage",
            addons.storage_class,
            CSI_PROVISIONER,
            {"storagepolicyname": policy} if policy else {},
            child_options(self, opts, csi_config_secret, *self.csi),
            snapshots=addons.volume_snapshots,
            snapshot_crds=snapshot_crds,
        )
        self.register_outputs({"operatorManifest": self.csi_manifest})
