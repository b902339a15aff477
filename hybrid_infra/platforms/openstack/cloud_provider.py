"""OpenStack cloud integration: the cloud controller manager, Cinder CSI and the default StorageClass."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ...addons.helm import release
from ...addons.storage import DefaultStorageClass
from ...config.addons import AddonsSpec
from ...config.cluster import ClusterSpec
from ...config.errors import ConfigError
from ...objects import child_options
from .config import OpenStackCloudProviderSpec, OpenStackSpec

CCM_SECRET, CCM_MOUNT = "cloud-config", "/etc/config"
CSI_SECRET, CSI_MOUNT = "cinder-csi-cloud-config", "/etc/kubernetes"
"""Each chart mounts its Secret elsewhere, and cloud.conf names the CA file by its path there."""


def cloud_conf(
    cluster: ClusterSpec,
    spec: OpenStackSpec,
    provider: OpenStackCloudProviderSpec,
    subnet_id: str,
    floating_network_id: str | None,
    mount: str,
) -> str:
    """``cloud.conf`` of the CCM or Cinder CSI (the application credential's secret included)."""
    glob = {
        "auth-url": provider.auth_url,
        "application-credential-id": provider.application_credential_id,
        "application-credential-secret": provider.application_credential_secret.get_secret_value(),
    }
    if spec.region:
        glob["region"] = spec.region
    if provider.ca_certificate:
        glob["ca-file"] = f"{mount}/ca.pem"
    # Services of type LoadBalancer through Octavia, when the cloud has it (the API endpoint uses it).
    octavia = cluster.endpoint.type == "loadBalancer"
    balancer = {"enabled": str(octavia).lower()}
    if octavia:
        balancer.update({"use-octavia": "true", "subnet-id": subnet_id, "create-monitor": "true"})
        if floating_network_id:
            balancer["floating-network-id"] = floating_network_id
    storage = {"bs-version": "v3", "ignore-volume-az": str(provider.ignore_volume_az).lower()}
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
    ):
        provider = spec.cloud_provider
        if provider is None:
            raise ConfigError(["openstack.cloudProvider: required key is missing; the cloud provider needs credentials"])
        super().__init__("hybrid-infra:index:OpenStackCloudProvider", name, None, opts)
        child = child_options(self, opts)

        def secret(part: str, secret_name: str, mount: str) -> k8s.core.v1.Secret:
            conf = pulumi.Output.all(subnet_id, floating_network_id).apply(
                lambda ids: cloud_conf(cluster, spec, provider, ids[0], ids[1], mount)
            )
            data: dict[str, pulumi.Input[str]] = {"cloud.conf": conf}
            if provider.ca_certificate:
                data["ca.pem"] = provider.ca_certificate
            return k8s.core.v1.Secret(
                f"{name}-{part}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace="kube-system"),
                type="Opaque",
                string_data=pulumi.Output.secret(data),
                opts=child,
            )

        ccm_secret = secret("cloud-config", CCM_SECRET, CCM_MOUNT)
        csi_secret = secret("cinder-csi-cloud-config", CSI_SECRET, CSI_MOUNT)
        self.controller_manager = release(
            f"{name}-ccm",
            "openstack-cloud-controller-manager",
            "openstack-cloud-controller-manager",
            spec.charts.cloud_controller_manager,
            "kube-system",
            {"secret": {"enabled": True, "create": False, "name": CCM_SECRET}, "cluster": {"name": cluster.name}},
            child_options(self, opts, ccm_secret),
        )
        self.csi = release(
            f"{name}-cinder-csi",
            "cinder-csi",
            "openstack-cinder-csi",
            spec.charts.cinder_csi,
            "kube-system",
            {
                "secret": {"enabled": True, "create": False, "name": CSI_SECRET, "hostMount": False},
                "storageClass": {"enabled": False},
                "clusterID": cluster.name,
            },
            child_options(self, opts, csi_secret),
        )
        volume_type = spec.storage_class.volume_type
        self.storage_class = DefaultStorageClass(
            f"{name}-storage",
            addons.storage_class,
            "cinder.csi.openstack.org",
            {"type": volume_type} if volume_type else {},
            child_options(self, opts, self.csi),
        )
        self.register_outputs({})
