"""Pure renderings of the CNI's Helm values."""

from __future__ import annotations

from hybrid_infra.addons.cni import calico_values, cilium_values_for
from hybrid_infra.config import parse_stack_config


def test_cni_values_carry_the_pod_network(dev_config):
    dev_config["hybrid-infra:cluster"]["network"]["podCidr"] = "10.128.0.0/16"
    spec = parse_stack_config(dev_config)
    cilium = cilium_values_for(spec.cluster, spec.addons, "10.20.0.2", 6443)
    assert cilium["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"] == ["10.128.0.0/16"]
    assert (cilium["k8sServiceHost"], cilium["k8sServicePort"]) == ("10.20.0.2", 6443)
    assert "cni" not in cilium
    calico = calico_values(spec.cluster, "10.20.0.2", 6443)
    assert calico["installation"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.128.0.0/16"
    assert calico["installation"]["calicoNetwork"]["ipPools"][0]["encapsulation"] == "VXLAN"
