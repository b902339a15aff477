"""OpenStack cloud integration: the cloud controller manager, Cinder CSI and the default StorageClass."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ..config import AddonsSpec, ClusterSpec, OpenStackSpec
from ..objects import child_options
from .helm import release
from .storage import DefaultStorageClass

CLOUD_CONFIG_SECRET = "cloud-config"
CONFIG_MOUNT = "/etc/config"
"""Where both charts mount the cloud-config Secret."""


def cloud_conf(
    cluster: ClusterSpec,
    spec: OpenStackSpec,
    subnet_id: str,
    floating_network_id: str | None,
) -> str:
    """``cloud.conf`` shared by the CCM and Cinder CSI (the application credential's secret included)."""
    provider = spec.cloud_provider
    if provider is None:
        raise ValueError("openstack.cloudProvider is not set")
    glob = {
        "auth-url": provider.auth_url,
        "application-credential-id": provider.application_credential_id,
        "application-credential-secret": provider.application_credential_secret.get_secret_value(),
    }
    if spec.region:
        glob["region"] = spec.region
    if provider.ca_certificate:
        glob["ca-file"] = f"{CONFIG_MOUNT}/ca.pem"
    # Services of type LoadBalancer through Octavia, when the cloud has it (the API endpoint uses it).
    octavia = cluster.endpoint.type == "loadBalancer"
    balancer = {"enabled": str(octavia).lower()}
    if octavia:
        balancer.update({"use-octavia": "true", "subnet-id": subnet_id, "create-monitor": "true"})
        if floating_network_id:
            balancer["floating-network-id"] = floating_network_id
    sections = {"Global": glob, "LoadBalancer": balancer, "BlockStorage": {"bs-version": "v3", "ignore-volume-az": "false"}}
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
        super().__init__("hybrid-infra:index:OpenStackCloudProvider", name, None, opts)
        child = child_options(self, opts)
        provider = spec.cloud_provider
        if provider is None:
            raise ValueError(f"{name}: openstack.cloudProvider is not set")
        conf = pulumi.Output.all(subnet_id, floating_network_id).apply(
            lambda ids: cloud_conf(cluster, spec, ids[0], ids[1])
        )
        data: dict[str, pulumi.Input[str]] = {"cloud.conf": conf}
        if provider.ca_certificate:
            data["ca.pem"] = provider.ca_certificate
        secret = k8s.core.v1.Secret(
            f"{name}-cloud-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CLOUD_CONFIG_SECRET, namespace="kube-system"),
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            opts=child,
        )
        after_secret = child_options(self, opts, secret)
        self.controller_manager = release(
            f"{name}-ccm",
            "openstack-cloud-controller-manager",
            "openstack-cloud-controller-manager",
            addons.charts.openstack_cloud_controller_manager,
            "kube-system",
            {"secret": {"enabled": True, "create": False, "name": CLOUD_CONFIG_SECRET}, "cluster": {"name": cluster.name}},
            after_secret,
        )
        self.csi = release(
            f"{name}-cinder-csi",
            "cinder-csi",
            "openstack-cinder-csi",
            addons.charts.cinder_csi,
            "kube-system",
            {
                "secret": {"enabled": True, "create": False, "name": CLOUD_CONFIG_SECRET, "hostMount": False},
                "storageClass": {"enabled": False},
                "clusterID": cluster.name,
            },
            after_secret,
        )
        volume_type = addons.storage_class.volume_type
        self.storage_class = DefaultStorageClass(
            f"{name}-storage",
            addons.storage_class,
            "cinder.csi.openstack.org",
            {"type": volume_type} if volume_type else {},
            child_options(self, opts, self.csi),
        )
        self.register_outputs({})
