"""The OpenStack cloud provider's pure renderings: cloud.conf per chart."""

from __future__ import annotations

import configparser

from hybrid_infra.config import parse_stack_config
from hybrid_infra.platforms.openstack.cloud_provider import CCM_MOUNT, CSI_MOUNT, cloud_conf


def parsed(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


def test_cloud_conf_with_octavia_and_a_ca_per_chart(dev_config):
    dev_config["hybrid-infra:openstack"]["cloudProvider"]["caCertificate"] = "-----BEGIN CERTIFICATE-----"
    spec = parse_stack_config(dev_config)
    provider = spec.platform_section.cloud_provider
    for mount in (CCM_MOUNT, CSI_MOUNT):
        conf = parsed(cloud_conf(spec.cluster, spec.platform_section, provider, "subnet-1", "external-1", mount))
        assert conf["Global"]["auth-url"] == "https://keystone.example.com:5000/v3"
        assert conf["Global"]["application-credential-secret"] == provider.application_credential_secret.get_secret_value()
        assert conf["Global"]["ca-file"] == f"{mount}/ca.pem"
        assert conf["LoadBalancer"]["enabled"] == "true"
        assert (conf["LoadBalancer"]["subnet-id"], conf["LoadBalancer"]["floating-network-id"]) == ("subnet-1", "external-1")


def test_cloud_conf_without_octavia_when_the_endpoint_is_a_vip(dev_config):
    dev_config["hybrid-infra:cluster"]["endpoint"] = {"type": "vip"}
    spec = parse_stack_config(dev_config)
    conf = parsed(cloud_conf(spec.cluster, spec.platform_section, spec.platform_section.cloud_provider, "s", None, CCM_MOUNT))
    assert dict(conf["LoadBalancer"]) == {"enabled": "false"}
    assert "ca-file" not in conf["Global"]


