"""OpenStack cloud integration: the cloud controller manager, Cinder CSI, the default StorageClass and
VolumeSnapshotClass."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ...addons.helm import release
from ...addons.storage import DefaultStorageClass, snapshot_dependencies
from ...config.addons import AddonsSpec
from ...config.cluster import ClusterSpec
from ...config.errors import ConfigError
from ...config.fields import secret_input
from ...objects import child_options
from .config import LOAD_BALANCER_PROVIDER, OpenStackCloudProviderSpec, OpenStackSpec

CLOUD_CONFIG_SECRET = "cloud-config"
CLOUD_CONFIG_MOUNT = "/etc/config"
"""Where both charts (2.34.1) mount the Secret, as a directory: openstack-cloud-controller-manager's
templates/daemonset.yaml (``--cloud-config=/etc/config/cloud.conf``) and openstack-cinder-csi's
controllerplugin-deployment.yaml and nodeplugin-daemonset.yaml (the ``cloud-config`` volume at
``/etc/config``, ``CLOUD_CONFIG=/etc/config/<secret.filename>``). One Secret serves both, and every
path cloud.conf names (the CA) lies under this mount."""
CLOUD_CONF, CA_FILE = "cloud.conf", "ca.pem"
CSI_DRIVER = "cinder.csi.openstack.org"
SNAPSHOT_PARAMETERS = {"force-create": "true"}
"""Cinder CSI v1.35.0 snapshots a volume (pkg/csi/cinder/driver.go: CREATE_DELETE_SNAPSHOT, LIST_SNAPSHOTS;
chart 2.35.0 runs the csi-snapshotter v8.4.0 sidecar beside the controller plugin, templates/
controllerplugin-deployment.yaml). A running VM's volumes are attached, ``in-use``: Cinder snapshots one only
when asked to force it, which ``force-create`` does (pkg/csi/cinder/openstack/openstack_snapshots.go
CreateSnapshot, at the Block Storage API's base microversion; docs/cinder-csi-plugin/using-cinder-csi-plugin.md,
"VolumeSnapshotClass parameters")."""


def cloud_conf(
    cluster: ClusterSpec,
    spec: OpenStackSpec,
    provider: OpenStackCloudProviderSpec,
    subnet_id: str,
    floating_network_id: str | None,
    provider_region: str | None = None,
    credential_secret: str | None = None,
) -> str:
    """``cloud.conf`` of the CCM and Cinder CSI (the application credential's secret included).

    ``credential_secret``: the secret's value, when the section holds it as a Pulumi output.

    Keys as cloud-provider-openstack v1.34 reads them (pkg/client AuthOpts, pkg/openstack
    LoadBalancerOpts, pkg/csi/cinder/openstack BlockStorageOpts); it reads no OS_* variables, so
    without ``region`` a multi-region catalog is ambiguous: the section's region, else the provider's.
    """
    glob = {
        "auth-url": provider.auth_url,
        "application-credential-id": provider.application_credential_id,
        "application-credential-secret": (
            credential_secret if credential_secret is not None else provider.application_credential_secret.get_secret_value()
        ),
    }
    region = spec.region or provider_region
    if region:
        glob["region"] = region
    if provider.ca_certificate:
        glob["ca-file"] = f"{CLOUD_CONFIG_MOUNT}/{CA_FILE}"
    # Services of type LoadBalancer through Octavia, when the cloud has it (the API endpoint uses it).
    octavia = cluster.endpoint.type == "loadBalancer"
    balancer = {"enabled": str(octavia).lower()}
    if octavia:
        balancer.update({"lb-provider": LOAD_BALANCER_PROVIDER, "subnet-id": subnet_id, "create-monitor": "true"})
        if floating_network_id:
            balancer["floating-network-id"] = floating_network_id
    storage = {"ignore-volume-az": str(provider.ignore_volume_az).lower()}
    sections = {"Global": glob, "LoadBalancer": balancer, "BlockStorage": storage}
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key}={value}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


class OpenStackCloudProvider(pulumi.ComponentResource):
    """openstack-cloud-controller-manager and Cinder CSI from their charts, and a default StorageClass."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        addons: AddonsSpec,
        spec: OpenStackSpec,
        subnet_id: pulumi.Input[str],
        floating_network_id: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions,
        provider_region: str | None = None,
    ):
        """``provider_region``: the OpenStack provider's region, used when the section names none."""
        provider = spec.cloud_provider
        if provider is None:
            raise ConfigError(["openstack.cloudProvider: required key is missing; the cloud provider needs credentials"])
        # Only the VolumeSnapshotClass waits for the snapshot CRDs.
        opts, snapshot_crds = snapshot_dependencies(opts)
        super().__init__("hybrid-infra:index:OpenStackCloudProvider", name, None, opts)
        child = child_options(self, opts)

        conf = pulumi.Output.all(subnet_id, floating_network_id, secret_input(provider.application_credential_secret)).apply(
            lambda args: cloud_conf(cluster, spec, provider, args[0], args[1], provider_region, credential_secret=args[2])
        )
        data: dict[str, pulumi.Input[str]] = {CLOUD_CONF: conf}
        if provider.ca_certificate:
            data[CA_FILE] = provider.ca_certificate
        cloud_config = k8s.core.v1.Secret(
            f"{name}-cloud-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CLOUD_CONFIG_SECRET, namespace="kube-system"),
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            opts=child,
        )
        self.controller_manager = release(
            f"{name}-ccm",
            "openstack-cloud-controller-manager",
            "openstack-cloud-controller-manager",
            spec.charts.cloud_controller_manager,
            "kube-system",
            {"secret": {"enabled": True, "create": False, "name": CLOUD_CONFIG_SECRET}, "cluster": {"name": cluster.name}},
            child_options(self, opts, cloud_config),
        )
        self.csi = release(
            f"{name}-cinder-csi",
            "cinder-csi",
            "openstack-cinder-csi",
            spec.charts.cinder_csi,
            "kube-system",
            {
                "secret": {
                    "enabled": True,
                    "create": False,
                    "name": CLOUD_CONFIG_SECRET,
                    "filename": CLOUD_CONF,
                    "hostMount": False,
                },
                "storageClass": {"enabled": False},
                "clusterID": cluster.name,
            },
            child_options(self, opts, cloud_config),
        )
        volume_type = spec.storage_class.volume_type
        self.storage_class = DefaultStorageClass(
            f"{name}-storage",
            addons.storage_class,
            CSI_DRIVER,
            {"type": volume_type} if volume_type else {},
            child_options(self, opts, self.csi),
            snapshots=addons.volume_snapshots,
            snapshot_parameters=SNAPSHOT_PARAMETERS,
            snapshot_crds=snapshot_crds,
        )
        self.register_outputs({})
