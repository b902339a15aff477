"""One Nova server group per pool: a pool larger than the project's ``server_group_members`` quota is refused up front."""

from __future__ import annotations

from hybrid_infra.stack import parse_stack_config
from tests.conftest import write_stack
from tests.test_cli import cli
from tests.test_config import problems


def over(key: str, count: int, who: str, limit: int = 10) -> str:
    return (
        f"{key}: {count} is not allowed; {who} one Nova server group, which holds at most {limit} servers "
        f"(openstack.maxServerGroupMembers, the project's server_group_members quota: Nova's default is 10); "
        f"run at most {limit} nodes there, or have the quota raised and set openstack.maxServerGroupMembers to it"
    )


def test_a_pool_larger_than_novas_default_quota_is_refused(dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] = 10
    parse_stack_config(dev_config)
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] = 11
    assert problems(dev_config) == [over("cluster.pools[0].count", 11, "pool 'general' is")]


def test_the_section_states_a_raised_quota(dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] = 40
    dev_config["hybrid-infra:openstack"]["maxServerGroupMembers"] = 40
    assert parse_stack_config(dev_config).sections["openstack"].max_server_group_members == 40
    dev_config["hybrid-infra:openstack"]["maxServerGroupMembers"] = 0
    assert problems(dev_config) == ["openstack.maxServerGroupMembers: 0 is not allowed; use a number >= 1"]


def test_every_pool_over_the_quota_is_named_with_the_sections_other_problems(dev_config):
    cluster = dev_config["hybrid-infra:cluster"]
    cluster["controlPlane"]["count"] = 5
    cluster["pools"][0]["count"] = 12
    cluster["pools"][1]["size"] = "huge"
    dev_config["hybrid-infra:openstack"]["maxServerGroupMembers"] = 3
    del dev_config["hybrid-infra:openstack"]["externalNetwork"]
    assert problems(dev_config) == [
        "cluster.pools[1].size: 'huge' is not allowed; use a size defined in openstack.flavors: large, medium, virt",
        "openstack.externalNetwork: missing; a public endpoint needs the name of an external network",
        over("cluster.controlPlane.count", 5, "the control plane is", limit=3),
        over("cluster.pools[0].count", 12, "pool 'general' is", limit=3),
    ]


def test_validate_exits_2_with_the_line(tmp_path, dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][1]["count"] = 11
    write_stack(tmp_path / "stacks", "wide", dev_config)
    result = cli("validate", "wide", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "stacks/Pulumi.wide.yaml: " + over("cluster.pools[1].count", 11, "pool 'virt' is")
    ]
