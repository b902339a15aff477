"""Scale limits a platform section states are checked like the cluster's networks: one line each."""

from __future__ import annotations

import copy

import pytest

from hybrid_infra.config import ConfigError
from hybrid_infra.offline.plan import load_stack
from hybrid_infra.stack import parse_stack_config
from tests.platforms.conftest import FAKE_STACKS


@pytest.fixture
def fake_config(fake_platform):
    return copy.deepcopy(load_stack(FAKE_STACKS, "fake").values)


def problems(config):
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config)
    return caught.value.problems


def test_a_platform_quota_counts_the_nodes_on_the_platform(fake_config):
    fake_config["hybrid-infra:fake"]["maxMachines"] = 6
    parse_stack_config(fake_config)
    fake_config["hybrid-infra:fake"]["maxMachines"] = 5
    assert problems(fake_config) == ["fake.maxMachines: 5 is not allowed; it holds 5 nodes (one machine each), the cluster has 6"]


def test_a_quota_on_some_pools_counts_only_theirs(fake_config):
    fake_config["hybrid-infra:fake"]["maxBySize"] = {"small": 5, "big": 1}
    parse_stack_config(fake_config)
    fake_config["hybrid-infra:fake"]["maxBySize"] = {"small": 4}
    assert problems(fake_config) == [
        "fake.maxBySize.small: 4 is not allowed; it holds 4 nodes, pools control-plane, general have 5"
    ]


def test_a_new_platform_gets_the_size_check_by_naming_its_size_map(fake_config):
    fake_config["hybrid-infra:cluster"]["pools"][1]["size"] = "huge"
    fake_config["hybrid-infra:fake"]["maxMachines"] = 5
    assert problems(fake_config) == [
        "cluster.pools[1].size: 'huge' is not allowed; use a size defined in fake.machines: big, small",
        "fake.maxMachines: 5 is not allowed; it holds 5 nodes (one machine each), the cluster has 6",
    ]
