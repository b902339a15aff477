"""The pod network: Cilium (default) or Calico, both as VXLAN overlays over the node network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from ..config.addons import CALICO_CRDS_URL, AddonsSpec
from ..config.cluster import ClusterSpec
from ..objects import child_options
from .helm import release
from .manifests import PinnedManifest, install_release


def take_over_fields(document: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply takes the fields of an adopted CRD over from the manager that set them (Helm's)."""
    annotations = document.setdefault("metadata", {}).setdefault("annotations", {})
    annotations["pulumi.com/patchForce"] = "true"
    return document


def cilium_values(cluster: ClusterSpec, api_host: str, api_port: int) -> dict[str, Any]:
    return {
        "ipam": {
            "mode": "cluster-pool",
            "operator": {"clusterPoolIPv4PodCIDRList": [cluster.network.pod_cidr], "clusterPoolIPv4MaskSize": 24},
        },
        "routingMode": "tunnel",
        "tunnelProtocol": "vxlan",
        # Cilium reaches the API through the endpoint, not the in-cluster service it has yet to route.
        "k8sServiceHost": api_host,
        "k8sServicePort": api_port,
        "kubeProxyReplacement": False,
        "operator": {"replicas": min(2, cluster.control_plane.count)},
    }


def cilium_values_for(cluster: ClusterSpec, addons: AddonsSpec, api_host: str, api_port: int) -> dict[str, Any]:
    values = cilium_values(cluster, api_host, api_port)
    if addons.multus.enabled:
        # Leave other CNI configurations in place, so Multus can chain extra networks.
        values["cni"] = {"exclusive": False}
    return values


def calico_values(cluster: ClusterSpec, api_host: str, api_port: int) -> dict[str, Any]:
    return {
        "installation": {
            "cni": {"type": "Calico"},
            "calicoNetwork": {
                "bgp": "Disabled",
                "ipPools": [
                    {
                        "name": "default-ipv4-ippool",
                        "cidr": cluster.network.pod_cidr,
                        "encapsulation": "VXLAN",
                        "natOutgoing": "Enabled",
                        "blockSize": 26,
                        "nodeSelector": "all()",
                    }
                ],
            },
        },
        "kubernetesServiceEndpoint": {"host": api_host, "port": str(api_port)},
    }


class Cni(pulumi.ComponentResource):
    """Cilium or Calico through a Helm release, with the cluster's pod CIDR."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        addons: AddonsSpec,
        api_host: pulumi.Input[str],
        api_port: int,
        opts: pulumi.ResourceOptions,
        base_dir: Path | None = None,
        crds_provider: pulumi.ProviderResource | None = None,
    ):
        """``base_dir`` resolves a CRD manifest file named in the stack; default: the working directory.
        ``crds_provider``: one that adopts objects which already exist (KubernetesCluster's
        ``adopting_provider``), so that a cluster whose Calico chart installed the CRDs moves to
        v3.32; without it, the CRDs are created with the provider of ``opts``."""
        super().__init__("hybrid-infra:index:Cni", name, None, opts)
        child = child_options(self, opts)
        self.crds: list[pulumi.CustomResource] = []
        self.crds_manifest: dict[str, Any] | None = None
        if cluster.cni == "cilium":
            values = pulumi.Output.from_input(api_host).apply(
                lambda host: cilium_values_for(cluster, addons, host, api_port)
            )
            self.release = release(f"{name}-cilium", "cilium", "cilium", addons.charts.cilium, "kube-system", values, child)
        else:
            # From v3.32 the chart renders the operator's resources but carries no CRDs: they come first.
            version = addons.charts.calico.version
            pinned = PinnedManifest(
                "calico-crds", version, addons.calico_crds_source, CALICO_CRDS_URL.format(version=version), "addons.calicoCrds"
            )
            self.crds, self.crds_manifest = install_release(
                self, f"{name}-calico-crds", pinned, base_dir or Path.cwd(), opts, take_over_fields, crds_provider
            )
            values = pulumi.Output.from_input(api_host).apply(lambda host: calico_values(cluster, host, api_port))
            self.release = release(
                f"{name}-calico",
                "calico",
                "tigera-operator",
                addons.charts.calico,
                "tigera-operator",
                values,
                child_options(self, opts, *self.crds),
            )
        self.register_outputs({"operatorManifest": self.crds_manifest} if self.crds_manifest else {})
