"""OpenStack infrastructure on the simulated cloud, in preview and in update mode."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from hybrid_infra.offline.simulate import Simulation, Unknown
from hybrid_infra.platform import program
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.testing import simulate
from tests.conftest import load_dev_config, secret_keys

INSTANCE = "openstack:compute/instance:Instance"
PORT = "openstack:networking/port:Port"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
PLATFORM_MODULES = ["network", "endpoint", "nodes", "cloud_provider", "infrastructure"]


def run(config: dict[str, Any], preview: bool = False) -> Simulation:
    return simulate(
        program, stack="dev", config=config, secret_keys=secret_keys(config), spec=parse_stack_config(config), preview=preview
    )


def instances(result: Simulation) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: r.inputs for r in result.of_type(INSTANCE)}


@pytest.fixture(scope="module")
def dev() -> Simulation:
    return run(load_dev_config())


def test_preview_registers_the_same_resources_with_unknown_outputs(dev, dev_config):
    preview = run(dev_config, preview=True)
    assert [r.urn for r in preview.resources] == [r.urn for r in dev.resources]
    instance = next(r for r in preview.resources if r.type == INSTANCE)
    assert "accessIpV4" not in instance.outputs
    assert isinstance(preview.outputs["endpoint"], Unknown)


def test_nodes_of_every_pool(dev):
    nodes = instances(dev)
    assert sorted(nodes) == [
        "dev-cp-0", "dev-cp-1", "dev-cp-2", "dev-general-0", "dev-general-1", "dev-general-2", "dev-virt-0", "dev-virt-1"
    ]
    assert nodes["dev-cp-0"]["flavorName"] == "m1.medium"
    assert nodes["dev-virt-1"]["flavorName"] == "v1.xlarge.kvm"
    assert nodes["dev-general-1"]["metadata"] == {
        "hybrid-infra-cluster": "dev", "hybrid-infra-pool": "general", "hybrid-infra-role": "worker"
    }
    volume = nodes["dev-cp-0"]["blockDevices"][0]
    assert (volume["sourceType"], volume["destinationType"], volume["volumeSize"], volume["bootIndex"]) == (
        "image", "volume", 50, 0
    )


def test_inputs_that_only_matter_at_creation_never_replace_running_nodes(dev):
    for instance in dev.of_type(INSTANCE):
        assert instance.ignore_changes == ["availabilityZone", "blockDevices", "keyPair", "userData"]


def test_nodes_spread_round_robin_over_zones_virtualization_nodes_two_by_two(dev):
    zones = {name: inputs["availabilityZone"] for name, inputs in instances(dev).items()}
    assert [zones[f"dev-general-{i}"] for i in range(3)] == ["az-1", "az-2", "az-3"]
    assert [zones[f"dev-virt-{i}"] for i in range(2)] == ["az-1", "az-1"]


def test_server_group_per_pool_with_anti_affinity(dev):
    groups = {r.inputs["name"]: r for r in dev.of_type("openstack:compute/serverGroup:ServerGroup")}
    assert {name: g.inputs["policies"] for name, g in groups.items()} == {
        "dev-control-plane": "anti-affinity",
        "dev-general": "soft-anti-affinity",
        "dev-virt": "soft-anti-affinity",
    }
    control_plane_group = groups["dev-control-plane"].resource_id
    for name, inputs in instances(dev).items():
        if name.startswith("dev-cp-"):
            assert inputs["schedulerHints"] == [{"group": control_plane_group}]


def test_node_addresses_come_from_the_subnet_in_order(dev):
    subnet = ipaddress.ip_network("10.20.0.0/24")
    addresses = [node["address"] for node in dev.outputs["nodes"]]
    assert len(set(addresses)) == 8
    assert all(ipaddress.ip_address(a) in subnet for a in addresses)
    assert addresses == sorted(addresses, key=ipaddress.ip_address)


def test_load_balancer_fronts_the_control_plane(dev):
    listener = dev.of_type("openstack:loadbalancer/listener:Listener")[0].inputs
    assert (listener["protocol"], listener["protocolPort"]) == ("TCP", 6443)
    assert listener["allowedCidrs"] == ["10.20.0.0/24", "198.51.100.0/24"]
    monitor = dev.of_type("openstack:loadbalancer/monitor:Monitor")[0].inputs
    assert (monitor["type"], monitor["urlPath"]) == ("HTTPS", "/readyz")
    members = sorted(m.inputs["address"] for m in dev.of_type("openstack:loadbalancer/member:Member"))
    control_plane = sorted(n["address"] for n in dev.outputs["nodes"] if n["role"] == "control-plane")
    assert members == control_plane
    floating = dev.of_type("openstack:networking/floatingIp:FloatingIp")[0]
    assert dev.outputs["endpoint"] == floating.outputs["address"]


def test_endpoint_exists_before_any_node(dev):
    # Every instance depends on its cloud-config, which names the endpoint: the load balancer must not
    # depend on any instance (members are added afterwards).
    balancer = dev.of_type("openstack:loadbalancer/loadBalancer:LoadBalancer")[0]
    by_urn = {r.urn: r for r in dev.resources}
    assert not any(by_urn[d].type == INSTANCE for d in balancer.dependencies)
    member = dev.of_type("openstack:loadbalancer/member:Member")[0]
    assert any(by_urn[d].type == PORT for d in member.dependencies)


def test_no_rule_opens_api_or_ssh_to_the_world(dev):
    for rule in dev.of_type(RULE):
        inputs = rule.inputs
        opens = (inputs.get("portRangeMin"), inputs.get("portRangeMax"))
        if opens in ((22, 22), (6443, 6443)):
            assert inputs.get("remoteIpPrefix") != "0.0.0.0/0", rule.name
    assert not [r for r in dev.of_type(RULE) if r.inputs.get("portRangeMin") == 22]


def test_api_rules_follow_allowed_cidrs_and_ssh_opens_when_asked(dev_config):
    dev_config["hybrid-infra:openstack"]["sshAllowedCidrs"] = ["192.0.2.0/28"]
    dev_config["hybrid-infra:cluster"]["endpoint"]["allowedCidrs"] = ["0.0.0.0/0"]
    result = run(dev_config)
    api = sorted(r.inputs["remoteIpPrefix"] for r in result.of_type(RULE) if r.inputs.get("portRangeMin") == 6443)
    assert api == ["0.0.0.0/0", "10.20.0.0/24"]
    ssh = [r.inputs["remoteIpPrefix"] for r in result.of_type(RULE) if r.inputs.get("portRangeMin") == 22]
    assert ssh == ["192.0.2.0/28", "192.0.2.0/28"]


def test_security_groups_allow_etcd_only_between_control_plane_nodes(dev):
    groups = {r.resource_id: r.inputs["name"] for r in dev.of_type("openstack:networking/secGroup:SecGroup")}
    etcd = [r.inputs for r in dev.of_type(RULE) if r.inputs.get("portRangeMin") == 2379]
    assert len(etcd) == 1
    assert groups[etcd[0]["securityGroupId"]] == groups[etcd[0]["remoteGroupId"]] == "dev-control-plane"
    cilium = {(groups[r.inputs["securityGroupId"]], r.inputs["protocol"], r.inputs.get("portRangeMin"))
              for r in dev.of_type(RULE) if r.inputs.get("description", "").startswith("cilium")}
    assert ("dev-worker", "udp", 8472) in cilium and ("dev-control-plane", "tcp", 4240) in cilium


def test_vip_endpoint_reserves_a_port_allowed_on_control_plane_ports(dev_config):
    dev_config["hybrid-infra:cluster"]["endpoint"] = {"type": "vip", "public": False}
    result = run(dev_config)
    assert not result.of_type("openstack:loadbalancer/loadBalancer:LoadBalancer")
    assert not result.of_type("openstack:networking/floatingIp:FloatingIp")
    vip = next(r for r in result.of_type(PORT) if r.inputs["name"] == "dev-api-vip")
    address = vip.outputs["allFixedIps"][0]
    assert result.outputs["endpoint"] == address
    for port in result.of_type(PORT):
        pairs = port.inputs.get("allowedAddressPairs")
        if port.inputs["name"].startswith("dev-cp-"):
            assert pairs == [{"ipAddress": address}]
        else:
            assert not pairs


def test_existing_network_is_reused(dev_config):
    dev_config["hybrid-infra:openstack"]["network"] = {"existing": "shared-net"}
    result = run(dev_config)
    for kind in ("network:Network", "subnet:Subnet", "router:Router"):
        assert not result.of_type(f"openstack:networking/{kind}")
    assert len(result.of_type(INSTANCE)) == 8
    addresses = [ipaddress.ip_address(n["address"]) for n in result.outputs["nodes"]]
    assert all(a in ipaddress.ip_network("10.20.0.0/24") for a in addresses)


def test_scaling_out_leaves_existing_nodes_untouched(dev, dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] = 5
    bigger = instances(run(dev_config))
    before = instances(dev)
    assert len(bigger) == len(before) + 2
    # Byte for byte, user data included: every node has its own join token.
    for name, inputs in before.items():
        assert bigger[name] == inputs, name


def test_every_component_is_exported_with_its_type_token(dev):
    import importlib

    import pulumi

    import hybrid_infra

    modules = [importlib.import_module(f"hybrid_infra.platforms.openstack.{name}") for name in PLATFORM_MODULES]
    public = [(hybrid_infra, name) for name in hybrid_infra.__all__]
    public += [(module, name) for module in modules for name in vars(module) if not name.startswith("_")]
    exported = {
        name for module, name in public
        if isinstance(getattr(module, name), type) and issubclass(getattr(module, name), pulumi.ComponentResource)
    }
    created = {r.type.split(":")[-1] for r in dev.resources if r.type.startswith("hybrid-infra:index:")}
    assert created <= exported
    assert {r.type for r in dev.resources if not r.custom} <= {f"hybrid-infra:index:{name}" for name in exported}


def test_api_load_balancer_is_amphora_with_a_monitor_fast_enough_for_kubeadm(dev):
    (balancer,) = dev.of_type("openstack:loadbalancer/loadBalancer:LoadBalancer")
    # OVN's driver has no HTTPS health monitors: the provider is explicit, not the cloud's default.
    assert balancer.inputs["loadbalancerProvider"] == "amphora"
    (monitor,) = dev.of_type("openstack:loadbalancer/monitor:Monitor")
    inputs = monitor.inputs
    assert (inputs["type"], inputs["urlPath"]) == ("HTTPS", "/readyz")
    assert inputs["timeout"] < inputs["delay"]
    # A node takes traffic within 10 s of its API answering (it was 30 s: delay 10 x 3 retries).
    assert inputs["delay"] * inputs["maxRetries"] <= 10
    assert inputs["maxRetriesDown"] == 3
