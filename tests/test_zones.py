"""Virtualization nodes fill zones two at a time: a VM's disk is a zonal volume, so a drain can move the VM
only to another virtualization node of that zone. A zone left with one such node is named before `up`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hybrid_infra.stack import parse_stack_config
from hybrid_infra.topology import NodeGroup, lone_virtualization_nodes, zone_slot
from tests.conftest import write_stack
from tests.platforms.aws.conftest import instances, load_aws_config, run
from tests.test_cli import cli


def group(virtualization: bool, count: int = 6) -> NodeGroup:
    return NodeGroup("c", "pool", "worker", count, "large", virtualization=virtualization)


def test_workers_take_zones_in_turn_and_virtualization_nodes_two_by_two():
    assert [zone_slot(group(False), index, 3) for index in range(6)] == [0, 1, 2, 0, 1, 2]
    assert [zone_slot(group(True), index, 3) for index in range(8)] == [0, 0, 1, 1, 2, 2, 0, 0]
    assert [zone_slot(group(True), index, 1) for index in range(3)] == [0, 0, 0]


def test_scaling_out_moves_no_virtualization_node():
    small, large = group(True, 3), group(True, 7)
    assert [zone_slot(small, i, 3) for i in range(3)] == [zone_slot(large, i, 3) for i in range(3)]


def test_the_aws_stacks_two_virtualization_nodes_share_a_zone():
    nodes = instances(run(load_aws_config()))
    virt = [nodes["aws-virt-0"]["subnetId"], nodes["aws-virt-1"]["subnetId"]]
    assert virt[0] == virt[1]
    # Workers and the control plane still spread one node per zone.
    assert len({nodes[f"aws-cp-{i}"]["subnetId"] for i in range(3)}) == 3


def with_virt_count(config: dict[str, Any], count: int) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    (pool,) = [p for p in changed["hybrid-infra:cluster"]["pools"] if p.get("virtualization")]
    pool["count"] = count
    return changed


@pytest.mark.parametrize("count", [2, 4, 6])
def test_even_counts_leave_no_virtualization_node_alone(dev_config, count):
    assert parse_stack_config(with_virt_count(dev_config, count)).warnings() == []


def test_an_odd_count_names_the_node_left_alone_in_its_zone(dev_config):
    spec = parse_stack_config(with_virt_count(dev_config, 3))
    assert spec.warnings() == [
        "cluster.pools[1].count: 3 leaves dev-virt-2 the only virtualization node in az-2: draining it stops its "
        "VMs, since their disks cannot leave the zone; use an even count (virtualization pools fill each zone with "
        "two nodes)"
    ]


def test_two_pools_of_one_node_share_the_first_zone(dev_config):
    config = with_virt_count(dev_config, 1)
    pools = config["hybrid-infra:cluster"]["pools"]
    pools.append({**pools[1], "name": "virt-b"})
    assert parse_stack_config(config).warnings() == []


def test_a_platform_without_zones_counts_the_whole_pool():
    cluster = parse_stack_config(with_virt_count(load_aws_config(), 1)).cluster
    assert lone_virtualization_nodes(cluster, {"vsphere": ["compute cluster c1"]}, "vsphere") == [
        "cluster.pools[1].count: 1 leaves aws-virt-0 the only virtualization node in compute cluster c1: draining "
        "it stops its VMs, since their disks cannot leave the zone; use an even count (virtualization pools fill "
        "each zone with two nodes)"
    ]


def test_validate_and_plan_print_the_line_and_pass(tmp_path, dev_config):
    write_stack(tmp_path / "stacks", "dev", with_virt_count(dev_config, 1))
    validated = cli("validate", "dev", "--stacks", str(tmp_path / "stacks"))
    assert validated.returncode == 0, validated.stderr
    assert validated.stderr.splitlines() == [
        f"warning: {tmp_path / 'stacks' / 'Pulumi.dev.yaml'}: cluster.pools[1].count: 1 leaves dev-virt-0 the only "
        "virtualization node in az-1: draining it stops its VMs, since their disks cannot leave the zone; use an "
        "even count (virtualization pools fill each zone with two nodes)"
    ]
    planned = cli("plan", "dev", "--stacks", str(tmp_path / "stacks"), "--out", str(tmp_path / "plan"))
    assert planned.returncode == 0, planned.stderr
    assert "warning: cluster.pools[1].count: 1 leaves dev-virt-0 the only virtualization node in az-1" in planned.stderr
