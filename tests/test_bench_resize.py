"""The bench fits each platform's section to a scaled stack itself (``benchmarks.resize``): scaling a
stack to N workers is the bench's business, not the platform contract's."""

from __future__ import annotations

import pytest

from benchmarks import resize
from hybrid_infra import platforms
from hybrid_infra.platforms.contract import PlatformSection
from hybrid_infra.platforms.openstack.config import NOVA_SERVER_GROUP_MEMBERS


def test_the_platform_contract_has_no_benchmark_hook():
    assert not hasattr(PlatformSection, "resized")
    assert [name for name in platforms.names() if hasattr(platforms.section_model(name), "resized")] == []


def test_the_bench_knows_only_registered_platforms():
    assert set(resize.RESIZERS) <= set(platforms.names())


def test_vsphere_lays_its_static_ranges_out_again_around_the_reserved_addresses():
    section = {
        "datacenter": "dc-1",
        "network": {"portGroup": "k8s", "static": {"gateway": "10.0.0.1", "dnsServers": ["10.0.0.2"], "ranges": {}}},
        "endpoint": {"address": "10.0.0.5"},
    }
    resized = resize.section("vsphere", section, {"control-plane": 3, "general": 4, "empty": 0}, "10.0.0.0/27")
    assert resized["network"]["static"]["ranges"] == {
        "control-plane": "10.0.0.6-10.0.0.8", "general": "10.0.0.9-10.0.0.12", "empty": "10.0.0.13-10.0.0.13"
    }
    assert resized["datacenter"] == "dc-1" and section["network"]["static"]["ranges"] == {}
    with pytest.raises(ValueError, match="holds no 40 more addresses for pool 'general'"):
        resize.section("vsphere", section, {"control-plane": 3, "general": 40}, "10.0.0.0/27")
    # Addresses from DHCP: nothing per node to lay out.
    dhcp = {"datacenter": "dc-1", "network": {"portGroup": "k8s"}}
    assert resize.section("vsphere", dhcp, {"control-plane": 3, "general": 40}, "10.0.0.0/27") is dhcp


def test_openstack_states_a_server_group_quota_that_holds_the_largest_pool():
    section = {"externalNetwork": "public"}
    assert resize.section("openstack", section, {"control-plane": 3, "workers": NOVA_SERVER_GROUP_MEMBERS}, "10.0.0.0/24") is section
    grown = resize.section("openstack", section, {"control-plane": 3, "workers": 1000}, "10.0.0.0/20")
    assert grown == {"externalNetwork": "public", "maxServerGroupMembers": 1000} and "maxServerGroupMembers" not in section
    stated = {"maxServerGroupMembers": 2000}
    assert resize.section("openstack", stated, {"control-plane": 3, "workers": 1000}, "10.0.0.0/20") is stated


def test_a_platform_whose_section_names_nothing_per_node_keeps_it_as_it_is():
    assert resize.section("aws", {"region": "us-east-1"}, {"control-plane": 3}, "10.0.0.0/24") == {"region": "us-east-1"}
