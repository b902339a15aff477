"""Pure renderings of the add-ons: cloud.conf, Helm values."""

from __future__ import annotations

import configparser

from hybrid_infra.addons.cni import calico_values, cilium_values_for
from hybrid_infra.addons.openstack import CCM_MOUNT, CSI_MOUNT, cloud_conf
from hybrid_infra.config import parse_stack_config


def parsed(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


def test_cloud_conf_with_octavia_and_a_ca_per_chart(dev_config):
    dev_config["hybrid-infra:openstack"]["cloudProvider"]["caCertificate"] = "-----BEGIN CERTIFICATE-----"
    spec = parse_stack_config(dev_config)
    provider = spec.openstack.cloud_provider
    for mount in (CCM_MOUNT, CSI_MOUNT):
        conf = parsed(cloud_conf(spec.cluster, spec.openstack, provider, "subnet-1", "external-1", mount))
        assert conf["Global"]["auth-url"] == "https://keystone.example.com:5000/v3"
        assert conf["Global"]["application-credential-secret"] == provider.application_credential_secret.get_secret_value()
        assert conf["Global"]["ca-file"] == f"{mount}/ca.pem"
        assert conf["LoadBalancer"]["enabled"] == "true"
        assert (conf["LoadBalancer"]["subnet-id"], conf["LoadBalancer"]["floating-network-id"]) == ("subnet-1", "external-1")


def test_cloud_conf_without_octavia_when_the_endpoint_is_a_vip(dev_config):
    dev_config["hybrid-infra:cluster"]["endpoint"] = {"type": "vip"}
    spec = parse_stack_config(dev_config)
    conf = parsed(cloud_conf(spec.cluster, spec.openstack, spec.openstack.cloud_provider, "s", None, CCM_MOUNT))
    assert dict(conf["LoadBalancer"]) == {"enabled": "false"}
    assert "ca-file" not in conf["Global"]


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
