"""The OpenStack cloud provider: one cloud.conf both charts mount at the same place, as v1.34 reads it."""

from __future__ import annotations

import configparser
from typing import Any

import pytest

from hybrid_infra.offline.plan import run_plan
from hybrid_infra.offline.simulate import Secret
from hybrid_infra.platforms.openstack.cloud_provider import CLOUD_CONFIG_MOUNT, cloud_conf
from hybrid_infra.stack import parse_stack_config
from tests.conftest import write_stack

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def parsed(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


def planned(tmp_path, config: dict[str, Any]) -> dict[str, Any]:
    """The plan's Kubernetes objects of the cloud provider, secrets shown, by resource name."""
    write_stack(tmp_path, "dev", config)
    resources = run_plan(tmp_path, "dev").simulation.resources
    return {r.name: r.inputs for r in resources if r.name.startswith("dev-openstack-") and r.custom}


def shown(value: Any) -> Any:
    return shown(value.value) if isinstance(value, Secret) else value


def test_both_charts_read_one_secret_whose_ca_lies_under_their_mount(tmp_path, dev_config):
    # Chart 2.34.1 mounts the Secret at /etc/config in the CCM and in both Cinder CSI plugins;
    # a ca-file elsewhere (it was /etc/kubernetes for the CSI) crash-loops the driver.
    dev_config["hybrid-infra:openstack"]["cloudProvider"]["caCertificate"] = CA
    objects = planned(tmp_path, dev_config)
    data = {key: shown(value) for key, value in shown(objects["dev-openstack-cloud-config"]["stringData"]).items()}
    assert set(data) == {"cloud.conf", "ca.pem"} and data["ca.pem"] == CA
    assert CLOUD_CONFIG_MOUNT == "/etc/config"
    assert parsed(data["cloud.conf"])["Global"]["ca-file"] == "/etc/config/ca.pem"
    secret_name = objects["dev-openstack-cloud-config"]["metadata"]["name"]
    for release in ("dev-openstack-ccm", "dev-openstack-cinder-csi"):
        values = objects[release]["values"]
        assert values["secret"]["name"] == secret_name and values["secret"]["enabled"] is True, release
        # Overriding the plugin's volumeMounts would drop the chart's own /etc/config mount.
        assert "csi" not in values, release
    assert objects["dev-openstack-cinder-csi"]["values"]["secret"]["hostMount"] is False
    assert [name for name in objects if name.endswith("cloud-config")] == ["dev-openstack-cloud-config"]


@pytest.mark.parametrize(
    ("section_region", "provider_region", "expected"),
    [(None, "RegionOne", "RegionOne"), ("RegionTwo", "RegionOne", "RegionTwo"), (None, None, None)],
)
def test_region_falls_back_to_the_providers(tmp_path, dev_config, section_region, provider_region, expected):
    dev_config.pop("openstack:region")
    if provider_region:
        dev_config["openstack:region"] = provider_region
    if section_region:
        dev_config["hybrid-infra:openstack"]["region"] = section_region
    objects = planned(tmp_path, dev_config)
    conf = parsed(shown(shown(objects["dev-openstack-cloud-config"]["stringData"])["cloud.conf"]))
    assert conf["Global"].get("region") == expected


def test_cloud_conf_has_only_keys_v1_34_reads(dev_config):
    spec = parse_stack_config(dev_config)
    section = spec.platform_section
    conf = parsed(cloud_conf(spec.cluster, section, section.cloud_provider, "subnet-1", "external-1", "RegionOne"))
    assert dict(conf["LoadBalancer"]) == {
        "enabled": "true",
        "lb-provider": "amphora",
        "subnet-id": "subnet-1",
        "create-monitor": "true",
        "floating-network-id": "external-1",
    }
    assert dict(conf["BlockStorage"]) == {"ignore-volume-az": "false"}
    assert conf["Global"]["application-credential-secret"] == section.cloud_provider.application_credential_secret.get_secret_value()
    assert "ca-file" not in conf["Global"]


def test_cloud_conf_without_octavia_when_the_endpoint_is_a_vip(dev_config):
    dev_config["hybrid-infra:cluster"]["endpoint"] = {"type": "vip"}
    spec = parse_stack_config(dev_config)
    conf = parsed(cloud_conf(spec.cluster, spec.platform_section, spec.platform_section.cloud_provider, "s", None))
    assert dict(conf["LoadBalancer"]) == {"enabled": "false"}
