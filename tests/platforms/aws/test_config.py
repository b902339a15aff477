"""The ``hybrid-infra:aws`` section: its own keys, its checks across sections, and what only a look-up finds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hybrid_infra.config import ConfigError
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.platforms.aws.config import kvm_capability, subnet_layout, zone_problem
from hybrid_infra.platforms.aws.simulated import AwsAnswers
from hybrid_infra.stack import parse_stack_config
from tests.conftest import write_stack
from tests.test_config import problems


def test_aws_stack_is_valid(aws_config):
    spec = parse_stack_config(aws_config)
    assert spec.platform == "aws"
    assert spec.platform_section.instance_types["virt"] == "m8i.2xlarge"


@pytest.mark.parametrize(
    ("instance_type", "capability"),
    [
        ("m8i.2xlarge", "nested"),
        ("c8i.large", "nested"),
        ("r8i-flex.xlarge", "nested"),
        ("m8i.metal-48xl", "metal"),
        ("c5.metal", "metal"),
        ("m7i.2xlarge", None),
        ("m8g.2xlarge", None),
        ("m8a.2xlarge", None),
    ],
)
def test_which_instance_types_expose_kvm(instance_type, capability):
    assert kvm_capability(instance_type) == capability


def test_a_virtualization_pool_without_kvm_is_refused_with_both_ways_out(aws_config):
    aws_config["hybrid-infra:aws"]["instanceTypes"]["virt"] = "m7i.2xlarge"
    assert problems(aws_config) == [
        "cluster.pools[1]: pool 'virt' cannot run VMs with KVM: its instance type 'm7i.2xlarge' offers neither "
        "nested virtualization (c8i, m8i, r8i, c8i-flex, m8i-flex, r8i-flex) nor bare metal (*.metal*); use one of "
        "those, or set addons.kubevirt.useEmulation: true to emulate without KVM (slow, for tests only)"
    ]
    aws_config["hybrid-infra:addons"] = {"kubevirt": {"useEmulation": True}}
    parse_stack_config(aws_config)


def test_bare_metal_runs_vms_too(aws_config):
    aws_config["hybrid-infra:aws"]["instanceTypes"]["virt"] = "m8i.metal-48xl"
    parse_stack_config(aws_config)


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        (["us-east-1a"], "aws.availabilityZones: ['us-east-1a'] is not allowed; use at least two zones: the private "
         "subnets and the API load balancer span two or more"),
        (["us-east-1a", "us-east-1b"], "aws.availabilityZones: ['us-east-1a', 'us-east-1b'] is not allowed; a control "
         "plane of 3 nodes in 2 zones loses etcd's quorum with the zone holding 2 of them; use at least 3 zones"),
        (["us-east-1a", "us-east-1a", "us-east-1b"], "aws.availabilityZones: ['us-east-1a', 'us-east-1a', 'us-east-1b'] "
         "is not allowed; name each zone once"),
    ],
)
def test_zones_that_cannot_carry_the_control_plane_are_refused(aws_config, zones, expected):
    aws_config["hybrid-infra:aws"]["availabilityZones"] = zones
    assert problems(aws_config) == [expected]


def test_a_single_control_plane_node_needs_two_zones_only(aws_config):
    aws_config["hybrid-infra:cluster"]["controlPlane"]["count"] = 1
    aws_config["hybrid-infra:aws"]["availabilityZones"] = ["us-east-1a", "us-east-1b"]
    parse_stack_config(aws_config)


@pytest.mark.parametrize(("nodes", "zones", "ok"), [(3, 3, True), (5, 3, True), (5, 2, False), (1, 2, True), (3, 4, True)])
def test_zones_keep_etcds_quorum_when_one_is_lost(nodes, zones, ok):
    assert (zone_problem(zones, nodes) is None) == ok


def test_default_subnets_are_cut_from_the_node_network():
    assert subnet_layout("10.30.0.0/16", 3) == (
        ["10.30.0.0/19", "10.30.32.0/19", "10.30.64.0/19"],
        ["10.30.128.0/19", "10.30.160.0/19", "10.30.192.0/19"],
    )
    assert subnet_layout("10.20.0.0/24", 2) == (["10.20.0.0/26", "10.20.0.64/26"], ["10.20.0.128/26", "10.20.0.192/26"])
    with pytest.raises(ValueError, match="too small for 3 zones"):
        subnet_layout("10.20.0.0/26", 3)


def explicit_subnets(config: dict[str, Any], private: list[str], public: list[str]) -> None:
    config["hybrid-infra:aws"]["availabilityZones"] = ["us-east-1a", "us-east-1b", "us-east-1c"]
    config["hybrid-infra:aws"]["network"] = {"privateSubnets": private, "publicSubnets": public}


PRIVATE = ["10.30.0.0/20", "10.30.16.0/20", "10.30.32.0/20"]
PUBLIC = ["10.30.240.0/24", "10.30.241.0/24", "10.30.242.0/24"]


@pytest.mark.parametrize(
    ("private", "public", "expected"),
    [
        (["10.30.0.0/20", "10.99.0.0/20", "10.30.32.0/20"], PUBLIC,
         "aws.network.privateSubnets[1]: '10.99.0.0/20' is not allowed; it lies outside the VPC, whose CIDR is "
         "cluster.network.nodeCidr 10.30.0.0/16"),
        (PRIVATE, ["10.30.240.0/24", "10.30.241.0/24", "192.168.0.0/24"],
         "aws.network.publicSubnets[2]: '192.168.0.0/24' is not allowed; it lies outside the VPC"),
        (PRIVATE, ["10.30.240.0/24", "10.30.16.0/24", "10.30.242.0/24"],
         "aws.network.publicSubnets[1]: '10.30.16.0/24' is not allowed; it overlaps aws.network.privateSubnets[1] 10.30.16.0/20"),
        (PRIVATE, ["10.30.240.0/29", "10.30.241.0/24", "10.30.242.0/24"],
         "aws.network.publicSubnets[0]: '10.30.240.0/29' is not allowed; a VPC takes subnets from /16 to /28"),
        (PRIVATE[:2], PUBLIC,
         "aws.network.privateSubnets: 2 subnets are not allowed for 3 zones; give one per zone"),
    ],
)
def test_subnets_outside_the_vpc_or_over_each_other_are_refused(aws_config, private, public, expected):
    explicit_subnets(aws_config, private, public)
    found = problems(aws_config)
    assert len(found) == 1 and found[0].startswith(expected), found


ROOM = "AWS keeps 5 addresses of a subnet, the API's internal load balancer takes 1"


def test_each_zones_private_subnet_must_hold_the_nodes_placed_in_it(aws_config):
    # Node i of a pool goes to zone i % 3, of a virtualization pool to zone i // 2 % 3: zone 0 gets
    # 1 + 67 + 2 of 3 + 200 + 2 nodes, zone 1 gets 1 + 67, zone 2 1 + 66.
    explicit_subnets(aws_config, ["10.30.0.0/26", "10.30.0.64/26", "10.30.0.128/26"], PUBLIC)
    aws_config["hybrid-infra:cluster"]["pools"][0]["count"] = 200
    assert problems(aws_config) == [
        f"aws.network.privateSubnets[0]: 10.30.0.0/26 is not allowed; it holds 58 nodes ({ROOM}), its zone gets 70",
        f"aws.network.privateSubnets[1]: 10.30.0.64/26 is not allowed; it holds 58 nodes ({ROOM}), its zone gets 68",
        f"aws.network.privateSubnets[2]: 10.30.0.128/26 is not allowed; it holds 58 nodes ({ROOM}), its zone gets 67",
    ]
    aws_config["hybrid-infra:cluster"]["pools"][0]["count"] = 165  # 1 + 55 + 2: a full subnet
    parse_stack_config(aws_config)


def test_the_subnets_cut_from_the_node_network_must_hold_each_zones_nodes(aws_config):
    cluster = aws_config["hybrid-infra:cluster"]
    cluster["network"]["nodeCidr"] = "10.30.0.0/22"  # three private /25s: 122 nodes each
    cluster["network"]["podCidr"] = "10.240.0.0/14"
    cluster["pools"][0]["count"] = 400
    assert problems(aws_config) == [
        "cluster.network.nodeCidr: 10.30.0.0/22 is not allowed; it holds 122 nodes (each zone's private subnet is "
        f"a /25 of it; {ROOM}), the zone with the most nodes gets 137"
    ]
    cluster["pools"][0]["count"] = 357  # 1 + 119 + 2 (the virtualization nodes share the first zone)
    parse_stack_config(aws_config)


def test_explicit_subnets_name_their_zones(aws_config):
    explicit_subnets(aws_config, PRIVATE, PUBLIC)
    parse_stack_config(aws_config)
    del aws_config["hybrid-infra:aws"]["availabilityZones"]
    assert problems(aws_config) == [
        f"aws.network.privateSubnets: {PRIVATE!r} is not allowed without aws.availabilityZones; name the zones "
        "the subnets lie in, in the same order"
    ]


REUSED = {"existingVpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0a", "subnet-0b", "subnet-0c"]}


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ({"privateSubnetIds": ["subnet-0a"]},
         "aws.network.privateSubnetIds: ['subnet-0a'] is not allowed without existingVpcId; name the VPC to reuse"),
        ({**REUSED, "privateSubnets": PRIVATE},
         f"aws.network.privateSubnets: {PRIVATE!r} is not allowed with existingVpcId; name the reused subnets in privateSubnetIds"),
        ({**REUSED, "privateSubnetIds": ["subnet-0a"]},
         "aws.network.privateSubnetIds: ['subnet-0a'] is not allowed; name the reused VPC's subnets for the nodes, "
         "at least two in different zones"),
        ({**REUSED, "privateSubnetIds": ["subnet-0a", "subnet-0b"], "publicSubnetIds": ["subnet-1a", "subnet-1b"]},
         "aws.network.privateSubnetIds: ['subnet-0a', 'subnet-0b'] is not allowed; a control plane of 3 nodes in 2 zones"),
        (REUSED, "aws.network.publicSubnetIds: missing; a public endpoint needs the reused VPC's public subnets"),
        ({**REUSED, "existingVpcId": "default"}, "aws.network.existingVpcId: 'default' is not allowed; use an ID such as vpc-"),
        ({"privateSubnets": PRIVATE}, "aws.network.publicSubnets: missing; private and public subnets are given together"),
    ],
)
def test_bad_network_keys(aws_config, network, expected):
    aws_config["hybrid-infra:aws"]["network"] = network
    found = problems(aws_config)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"instanceTypes": {"medium": "m8i large", "large": "m8i.xlarge", "virt": "m8i.2xlarge"}},
         "aws.instanceTypes.medium: 'm8i large' is not allowed; use an EC2 instance type such as m8i.xlarge"),
        ({"rootVolumeSize": 8}, "aws.rootVolumeSize: 8 is not allowed; use a number >= 20"),
        ({"sshAllowedCidrs": ["anywhere"]}, "aws.sshAllowedCidrs[0]: 'anywhere' is not allowed; use an IPv4 network"),
        ({"image": {"namePattern": ""}}, "aws.image.namePattern: '' is not allowed; it must not be empty"),
        ({"instancetypes": {}}, "aws.instancetypes: unknown key; did you mean 'instanceTypes'?"),
    ],
)
def test_bad_aws_values(aws_config, change, expected):
    aws_config["hybrid-infra:aws"].update(change)
    found = problems(aws_config)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_size_must_name_an_instance_type(aws_config):
    aws_config["hybrid-infra:cluster"]["pools"][0]["size"] = "huge"
    assert problems(aws_config) == [
        "cluster.pools[0].size: 'huge' is not allowed; use a size defined in aws.instanceTypes: large, medium, virt"
    ]


def test_a_vip_endpoint_is_refused(aws_config):
    aws_config["hybrid-infra:cluster"]["endpoint"] = {"type": "vip"}
    assert problems(aws_config) == [
        "cluster.endpoint.type: 'vip' is not allowed on AWS; a VPC does not carry an address announced by ARP, "
        "use loadBalancer (a Network Load Balancer)"
    ]


def test_keys_too_large_for_ec2_user_data_are_refused(aws_config):
    aws_config["hybrid-infra:cluster"]["pki"] = {"keyAlgorithm": "rsa-3072"}
    assert problems(aws_config) == [
        "cluster.pki.keyAlgorithm: 'rsa-3072' is not allowed on AWS; the control-plane nodes' cloud-configs would not "
        "fit in EC2's 16 KB of user data even compressed, use ecdsa-p256 or rsa-2048"
    ]


# --- what only a look-up finds: one line naming the key, from `hybrid-infra plan` as from the program ---


def plan_lines(tmp_path: Path, config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    write_stack(tmp_path / "stacks", "aws", config)
    return subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "aws"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


def test_an_image_pattern_that_matches_nothing_is_one_line_naming_the_key(tmp_path, aws_config):
    aws_config["hybrid-infra:aws"]["image"] = {"namePattern": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-riscv64-*"}
    result = plan_lines(tmp_path, aws_config)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "stacks/Pulumi.aws.yaml: aws.image.namePattern: the look-up of images named "
        "'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-riscv64-*' of owner 099720109477 failed: Your query returned "
        "no results. Please change your search criteria and try again."
    ]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "build").exists()


def test_a_missing_region_is_one_line(tmp_path, aws_config):
    del aws_config["aws:region"]
    result = plan_lines(tmp_path, aws_config)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "stacks/Pulumi.aws.yaml: aws:region: required key is missing; set the region of the stack's AWS provider "
        "with: pulumi config set aws:region <region>"
    ]


def reused(config: dict[str, Any]) -> dict[str, Any]:
    config["hybrid-infra:aws"]["network"] = {
        **REUSED,
        "publicSubnetIds": ["subnet-1a", "subnet-1b", "subnet-1c"],
    }
    return config


def test_a_reused_subnet_of_another_vpc_is_one_line_naming_the_key(tmp_path, aws_config, monkeypatch):
    answer = AwsAnswers._get_subnet

    def elsewhere(self: AwsAnswers, args: dict[str, Any]) -> dict[str, Any]:
        found = answer(self, args)
        return {**found, "vpcId": "vpc-0fedcba9876543210"} if args["id"] == "subnet-0b" else found

    monkeypatch.setattr(AwsAnswers, "_get_subnet", elsewhere)
    write_stack(tmp_path, "aws", reused(aws_config))
    with pytest.raises(ConfigError) as caught:
        run_plan(tmp_path, "aws")
    assert caught.value.problems == [
        "aws.network.privateSubnetIds[1]: 'subnet-0b' is not allowed; it lies in vpc-0fedcba9876543210, outside the "
        "VPC aws.network.existingVpcId vpc-0123456789abcdef0"
    ]


def test_two_reused_subnets_in_one_zone_are_one_line(tmp_path, aws_config, monkeypatch):
    answer = AwsAnswers._get_subnet

    def same_zone(self: AwsAnswers, args: dict[str, Any]) -> dict[str, Any]:
        return {**answer(self, args), "availabilityZone": "us-east-1a"}

    monkeypatch.setattr(AwsAnswers, "_get_subnet", same_zone)
    write_stack(tmp_path, "aws", reused(aws_config))
    with pytest.raises(ConfigError) as caught:
        run_plan(tmp_path, "aws")
    assert caught.value.problems == [
        "aws.network.privateSubnetIds[1]: 'subnet-0b' is not allowed; another subnet lies in us-east-1a already, "
        "name one subnet per zone"
    ]


def test_a_region_with_too_few_zones_is_one_line(tmp_path, aws_config, monkeypatch):
    monkeypatch.setattr("hybrid_infra.platforms.aws.simulated.ZONE_LETTERS", "ab")
    write_stack(tmp_path, "aws", aws_config)
    with pytest.raises(ConfigError) as caught:
        run_plan(tmp_path, "aws")
    assert caught.value.problems == [
        "aws.availabilityZones: us-east-1 offers ['us-east-1a', 'us-east-1b']; a control plane of 3 nodes in 2 zones "
        "loses etcd's quorum with the zone holding 2 of them; use at least 3 zones"
    ]


def test_zones_of_another_region_are_one_line(tmp_path, aws_config):
    aws_config["hybrid-infra:aws"]["availabilityZones"] = ["us-east-1a", "eu-west-1b", "us-east-1c"]
    write_stack(tmp_path, "aws", aws_config)
    with pytest.raises(ConfigError) as caught:
        run_plan(tmp_path, "aws")
    assert caught.value.problems == [
        "aws.availabilityZones: ['eu-west-1b'] is not allowed; name zones of the region us-east-1 (aws:region)"
    ]


def test_a_reused_vpc_takes_its_zones_from_its_subnets(aws_config):
    reused(aws_config)["hybrid-infra:aws"]["availabilityZones"] = ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert problems(aws_config) == [
        "aws.availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'] is not allowed with "
        "aws.network.existingVpcId; the nodes spread over the zones of aws.network.privateSubnetIds"
    ]


def test_every_aws_problem_is_reported_at_once(aws_config):
    cluster = aws_config["hybrid-infra:cluster"]
    cluster["endpoint"] = {"type": "vip"}
    cluster["pki"] = {"keyAlgorithm": "rsa-4096"}
    cluster["pools"][0]["size"] = "huge"
    aws_config["hybrid-infra:aws"]["instanceTypes"]["virt"] = "m7i.2xlarge"
    aws_config["hybrid-infra:aws"]["availabilityZones"] = ["us-east-1a", "us-east-1b", "us-east-1a"]
    assert problems(aws_config) == [
        "cluster.pools[0].size: 'huge' is not allowed; use a size defined in aws.instanceTypes: large, medium, virt",
        "cluster.endpoint.type: 'vip' is not allowed on AWS; a VPC does not carry an address announced by ARP, "
        "use loadBalancer (a Network Load Balancer)",
        "cluster.pki.keyAlgorithm: 'rsa-4096' is not allowed on AWS; the control-plane nodes' cloud-configs would "
        "not fit in EC2's 16 KB of user data even compressed, use ecdsa-p256 or rsa-2048",
        "cluster.pools[1]: pool 'virt' cannot run VMs with KVM: its instance type 'm7i.2xlarge' offers neither "
        "nested virtualization (c8i, m8i, r8i, c8i-flex, m8i-flex, r8i-flex) nor bare metal (*.metal*); use one of "
        "those, or set addons.kubevirt.useEmulation: true to emulate without KVM (slow, for tests only)",
        "aws.availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1a'] is not allowed; name each zone once",
    ]


def test_every_subnet_problem_is_reported_at_once(aws_config):
    explicit_subnets(
        aws_config, ["10.30.0.0/20", "10.99.0.0/20", "10.30.32.0/20"], ["10.30.240.0/24", "10.30.32.0/24", "10.30.242.0/29"]
    )
    assert problems(aws_config) == [
        "aws.network.privateSubnets[1]: '10.99.0.0/20' is not allowed; it lies outside the VPC, whose CIDR is "
        "cluster.network.nodeCidr 10.30.0.0/16",
        "aws.network.publicSubnets[1]: '10.30.32.0/24' is not allowed; it overlaps aws.network.privateSubnets[2] "
        "10.30.32.0/20",
        "aws.network.publicSubnets[2]: '10.30.242.0/29' is not allowed; a VPC takes subnets from /16 to /28",
    ]
