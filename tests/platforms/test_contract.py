"""The contract every platform inherits: run on each registered platform's stack, and on a fake one.

A new platform gets these tests by its registry line and a stack in ``stacks/`` that uses it.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_infra import platforms
from hybrid_infra.bootstrap.cloudinit import KEY_FETCH_SCRIPT
from hybrid_infra.config import ConfigError
from hybrid_infra.offline.cloud import LookupFailed
from hybrid_infra.offline.plan import Plan, Redactor, load_stack, plan_document, run_plan, user_data
from hybrid_infra.offline.simulate import Secret
from hybrid_infra.platform import build
from hybrid_infra.platforms.contract import ApiEndpoint, Infrastructure, NodePool, PlatformSection
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.testing import simulate
from hybrid_infra.topology import node_groups
from tests.conftest import STACKS, write_stack
from tests.platforms.conftest import FAKE_STACKS

# Types that belong to no platform: Kubernetes objects, the PKI, random values, dynamic resources, providers.
GENERIC_PREFIXES = ("kubernetes:", "tls:", "random:", "time:", "pulumi-python:dynamic:", "pulumi:providers:")


def stacks_using(platform: str) -> list[str]:
    found = []
    for path in sorted(STACKS.glob("Pulumi.*.yaml")):
        config = yaml.safe_load(path.read_text()).get("config") or {}
        if f"hybrid-infra:{platform}" in config:
            found.append(path.name.removeprefix("Pulumi.").removesuffix(".yaml"))
    return found


CASES = [(platform, STACKS, stack) for platform in platforms.names() for stack in stacks_using(platform)[:1]]
CASES.append(("fake", FAKE_STACKS, "fake"))


@pytest.fixture(params=CASES, ids=[case[0] for case in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, Path, str]:
    platform = request.param[0]
    if platform == "fake":
        request.getfixturevalue("fake_platform")
    return request.param


@pytest.fixture
def plan(case: tuple[str, Path, str]) -> Plan:
    _, directory, stack = case
    return run_plan(directory, stack)


def test_every_registered_platform_has_a_stack():
    for platform in platforms.names():
        assert stacks_using(platform), f"no stack in stacks/ sets hybrid-infra:{platform}"


def test_registry_entry_meets_the_contract(case):
    platform = case[0]
    section = platforms.section_model(platform)
    component = platforms.infrastructure_class(platform)
    assert issubclass(section, PlatformSection)
    assert issubclass(component, Infrastructure) and component.platform == platform
    assert component.type_token == f"hybrid-infra:index:{component.__name__}"
    assert callable(platforms.simulated_answers(platform).answers)


def ancestors(plan: Plan, urn: str) -> list[str]:
    parents = {resource.urn: resource.parent for resource in plan.simulation.resources}
    found = []
    while parents.get(urn):
        urn = parents[urn]
        found.append(urn)
    return found


def test_infrastructure_parents_every_platform_resource(case, plan):
    component = platforms.infrastructure_class(case[0])
    (infrastructure,) = plan.simulation.of_type(component.type_token)
    owned = [r for r in plan.simulation.resources if r.custom and not r.type.startswith(GENERIC_PREFIXES)]
    assert owned
    for resource in owned:
        assert infrastructure.urn in ancestors(plan, resource.urn), resource.urn
    # The platform's components of each kind (their type tokens end in the kind's name), under it too:
    # one endpoint, one node pool per group.
    expected = {ApiEndpoint: 1, NodePool: len(node_groups(plan.spec.cluster))}
    for kind, suffix in ((ApiEndpoint, "Endpoint"), (NodePool, "NodePool")):
        found = [r for r in plan.simulation.resources if not r.custom and r.type.endswith(suffix)]
        assert len(found) == expected[kind], (kind.__name__, [r.type for r in found])
        assert all(infrastructure.urn in ancestors(plan, r.urn) for r in found), kind.__name__


def test_every_node_has_its_cloud_config_naming_the_endpoint(plan):
    cluster = plan.spec.cluster
    names = [name for group in node_groups(cluster) for name in group.node_names]
    texts = user_data(plan)
    assert sorted(texts) == sorted(names)
    (record,) = plan.simulation.of_type("hybrid-infra:index:KubernetesCluster")
    api = f"{record.outputs['apiAddress']}:{int(record.outputs['apiPort'])}"
    for name, text in texts.items():
        assert isinstance(text, Secret), name
        assert text.value.startswith("#cloud-config\n") and api in text.value, name


def test_every_node_has_an_address_in_the_node_network(plan):
    nodes = plan.simulation.outputs["nodes"]
    network = ipaddress.ip_network(plan.spec.cluster.network.node_cidr)
    expected = {name: group.role for group in node_groups(plan.spec.cluster) for name in group.node_names}
    assert {node["name"]: node["role"] for node in nodes} == expected
    addresses = [node["address"] for node in nodes]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.ip_address(address) in network for address in addresses)


def _leaves(value: Any, secret: bool = False):
    if isinstance(value, Secret):
        yield from _leaves(value.value, True)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item, secret)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, secret)
    elif isinstance(value, str):
        yield value, secret


def test_key_material_reaches_resources_only_as_secrets(plan):
    tokens = [
        r.outputs["result"].value
        for r in plan.simulation.resources
        if r.type == "random:index/randomPassword:RandomPassword" and "-pki-token-" in r.name
    ]
    assert len(tokens) == sum(group.count for group in node_groups(plan.spec.cluster))
    for resource in plan.simulation.resources:
        for text, secret in _leaves(resource.inputs):
            if "PRIVATE KEY" in text or any(token in text for token in tokens):
                assert secret, f"{resource.urn} carries key material outside a secret"


def test_only_control_plane_nodes_receive_the_clusters_keys(plan):
    # Worker user data holds the join token alone; control-plane user data the keys too, unless the
    # platform keeps them itself (AWS: Secrets Manager) and hands the node a program to fetch them.
    (cluster,) = [r for r in plan.simulation.resources if r.type == "hybrid-infra:index:KubernetesCluster"]
    roles = {node["name"]: node["role"] for node in cluster.outputs["nodes"]}
    for name, value in user_data(plan).items():
        text = str(getattr(value, "value", value))
        holds_keys, fetches_them = "PRIVATE KEY" in text, KEY_FETCH_SCRIPT in text
        if roles[name] == "control-plane":
            assert holds_keys is not fetches_them, name
        else:
            assert not holds_keys and not fetches_them, name


def test_scaling_a_pool_out_changes_no_existing_platform_resource(case, plan, tmp_path):
    # A changed input of a running VM (its address, disk, placement) could replace it in production.
    platform, directory, stack = case
    config = yaml.safe_load((directory / f"Pulumi.{stack}.yaml").read_text())["config"]
    config["hybrid-infra:cluster"]["pools"][0]["count"] += 2
    write_stack(tmp_path, stack, config)
    bigger = {r.urn: r for r in run_plan(tmp_path, stack).simulation.resources}
    (infrastructure,) = plan.simulation.of_type(platforms.infrastructure_class(platform).type_token)
    owned = [r for r in plan.simulation.resources if infrastructure.urn in ancestors(plan, r.urn)]
    assert owned
    for resource in owned:
        # Byte for byte, creation-only inputs (user data) included: each node has its own join token.
        assert bigger[resource.urn].inputs == resource.inputs, resource.urn
    assert len(bigger) > len(plan.simulation.resources)


def test_the_same_stack_gives_the_same_plan(case, plan):
    _, directory, stack = case
    again = run_plan(directory, stack)
    first = plan_document(plan, Redactor(plan.simulation, show_secrets=True))
    second = plan_document(again, Redactor(again.simulation, show_secrets=True))
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_every_node_names_its_machine_under_the_infrastructure(case, plan):
    component = platforms.infrastructure_class(case[0])
    (infrastructure,) = plan.simulation.of_type(component.type_token)
    (cluster,) = plan.simulation.of_type("hybrid-infra:index:KubernetesCluster")
    machines = cluster.outputs["machines"]
    names = [name for group in node_groups(plan.spec.cluster) for name in group.node_names]
    assert sorted(machines) == sorted(names)
    by_urn = {r.urn: r for r in plan.simulation.resources}
    for name, urn in machines.items():
        assert by_urn[urn].custom and infrastructure.urn in ancestors(plan, urn), name


ID_KEY = re.compile(r"(Id|Ids|id|ids|uuid|Uuid|[pP]ort|[gG]roup|[gG]roups)$")
"""Input keys whose strings name another object: ``networkId``, ``securityGroupIds``, ``port``, ``group``."""
ID_VALUE = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z]+-[0-9a-f]{8,17})$")
"""What an ID looks like on the simulated cloud (a UUID) or in a cloud's own form (``sg-0123abcd``);
a key such as ``port`` also holds names and numbers (a health check's ``traffic-port``)."""


def _id_references(value: Any, key: str = ""):
    """(key, value) of every string in ``value``; a list's items under the key holding the list."""
    if isinstance(value, Secret):
        yield from _id_references(value.value, key)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _id_references(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _id_references(item, key)
    elif isinstance(value, str):
        yield key, value


def test_every_id_an_input_references_is_some_records_id(plan):
    """A platform resource's reference names a record of the plan: its ID, or an ID a record reports
    (an object the cloud made for it, such as a load balancer's VIP port, or one a component looked
    up), never nothing. Kubernetes objects name each other by name, not ID."""
    records = plan_document(plan, Redactor(plan.simulation, show_secrets=True))["resources"]
    by_id = {record["id"]: record for record in records if record["id"]}
    assert len(by_id) == len([record for record in records if record["id"]]), "IDs are unique"
    reported = {
        value: record["urn"]
        for record in records
        for key, value in _id_references({k: v for k, v in record["outputs"].items() if k not in record["inputs"]})
        if ID_KEY.search(key)
    }
    references = 0
    for record in records:
        for key, value in _id_references(record["inputs"]):
            if value in by_id:
                references += 1
                # Holding another record's ID means coming after it.
                assert by_id[value]["urn"] in record["dependencies"], f"{record['urn']}: {key} {value}"
            elif ID_KEY.search(key) and ID_VALUE.match(value) and not record["type"].startswith(GENERIC_PREFIXES):
                assert value in reported, f"{record['urn']}: {key} {value!r} names no record of the plan"
    assert references


SIZE_MAPS = {"openstack": "flavors", "vsphere": "sizes", "aws": "instanceTypes"}
"""The key of each platform section that maps the sizes pools name."""


@pytest.mark.parametrize("platform", platforms.names())
def test_every_size_the_platform_does_not_map_is_one_line(platform):
    config = copy.deepcopy(load_stack(STACKS, stacks_using(platform)[0]).values)
    cluster = config["hybrid-infra:cluster"]
    cluster["controlPlane"]["size"] = "tiny"
    for pool in cluster["pools"]:
        pool["size"] = "huge"
    key = f"{platform}.{SIZE_MAPS[platform]}"
    sizes = ", ".join(sorted(config[f"hybrid-infra:{platform}"][SIZE_MAPS[platform]]))
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config)
    assert caught.value.problems == [
        f"cluster.controlPlane.size: 'tiny' is not allowed; use a size defined in {key}: {sizes}",
        *(
            f"cluster.pools[{index}].size: 'huge' is not allowed; use a size defined in {key}: {sizes}"
            for index in range(len(cluster["pools"]))
        ),
    ]


def test_a_pool_given_other_than_one_cloud_config_per_node_registers_nothing(case):
    platform, directory, stack = case
    config = load_stack(directory, stack)
    spec = parse_stack_config(config.values)
    refused: list[str] = []

    def program() -> None:
        component = platforms.infrastructure_class(platform)
        infrastructure = component(f"{stack}-{platform}", spec.cluster, spec.platform_section)
        endpoint = infrastructure.create_endpoint(f"{stack}-endpoint")
        group = node_groups(spec.cluster)[1]
        with pytest.raises(ValueError) as caught:
            infrastructure.create_node_pool("extra-pool", group, ["#cloud-config\n"] * (group.count + 1), endpoint)
        refused.append(str(caught.value))

    result = simulate(program, stack=stack, config=config.values, secret_keys=config.secret_keys, spec=spec)
    group = node_groups(spec.cluster)[1]
    assert refused == [f"extra-pool: {group.count + 1} cloud-configs given for {group.count} nodes"]
    assert not [r.urn for r in result.resources if "extra-pool" in r.urn]


NO_RESULTS = "Your query returned no results. Please change your search criteria and try again."
IMAGE_NOT_FOUND = {
    "aws": (
        "hybrid_infra.platforms.aws.simulated.AwsAnswers._get_ami",
        NO_RESULTS,
        "aws.image.namePattern: the look-up of images named 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*' "
        f"of owner 099720109477 failed: {NO_RESULTS}",
    ),
    "openstack": (
        "hybrid_infra.platforms.openstack.simulated.OpenStackAnswers._get_image",
        NO_RESULTS,
        f"openstack.image: the look-up of the image named 'ubuntu-24.04' failed: {NO_RESULTS}",
    ),
    "vsphere": (
        "hybrid_infra.platforms.vsphere.simulated.VSphereAnswers._get_virtual_machine",
        "error fetching virtual machine: vm 'ubuntu-24.04-cloudimg' not found",
        "vsphere.template: the look-up of the template 'ubuntu-24.04-cloudimg' in datacenter 'dc-1' failed: "
        "error fetching virtual machine: vm 'ubuntu-24.04-cloudimg' not found",
    ),
}
"""Per platform: the simulated cloud's answer to the look-up of the nodes' image, what the provider says
when nothing matches, and the line the program reports."""


@pytest.mark.parametrize("platform", platforms.names())
def test_an_image_the_cloud_does_not_hold_is_one_line_before_anything_is_registered(platform, monkeypatch):
    answer, reason, line = IMAGE_NOT_FOUND[platform]

    def not_found(self: Any, args: dict[str, Any]) -> dict[str, Any]:
        raise LookupFailed(reason)

    monkeypatch.setattr(answer, not_found)
    stack = stacks_using(platform)[0]
    config = load_stack(STACKS, stack)
    spec = parse_stack_config(config.values, config.secret_paths)
    refused: list[str] = []

    def program() -> None:
        try:
            build(spec)
        except ConfigError as error:
            refused.extend(error.problems)

    result = simulate(program, stack=stack, config=config.values, secret_keys=config.secret_keys, spec=spec)
    assert refused == [line]
    # Not one cloud resource (the version guard, a dynamic resource of the engine's, comes first of all).
    assert not [r.urn for r in result.resources if r.custom and not r.type.startswith(GENERIC_PREFIXES)]
