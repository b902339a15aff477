"""Stack configuration: every bad input gets one line naming the key, the value and what is allowed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import field_validator

from hybrid_infra import platforms
from hybrid_infra.config import ConfigError, validate
from hybrid_infra.config.cluster import ClusterSpec, PoolSpec
from hybrid_infra.config.fields import Spec
from hybrid_infra.stack import parse_stack_config


def problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config)
    return caught.value.problems


def test_dev_stack_is_valid(dev_config):
    spec = parse_stack_config(dev_config)
    assert spec.platform == "openstack"
    assert spec.cluster.control_plane.count == 3
    assert [(p.name, p.count, p.virtualization) for p in spec.cluster.pools] == [
        ("general", 3, False),
        ("virt", 2, True),
    ]
    assert str(spec.cluster.pools[1].taints[0]) == "hybrid-infra.io/virtualization=true:NoSchedule"


def test_other_namespaces_are_left_to_their_providers(dev_config):
    dev_config["openstack:authUrl"] = "https://keystone.example:5000/v3"
    parse_stack_config(dev_config)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("controlPlane", "count"), 2, "cluster.controlPlane.count: 2 is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)"),
        (("controlPlane", "count"), 4, "cluster.controlPlane.count: 4 is not allowed; use 1, 3 or 5"),
        (("controlPlane", "count"), "three", "cluster.controlPlane.count: 'three' is not allowed; expected a whole number"),
        (("kubernetesVersion",), "1.30.4", "cluster.kubernetesVersion: '1.30.4' is not allowed; kubeadm API v1beta4 needs Kubernetes 1.31 or newer"),
        (("kubernetesVersion",), "1.38.0", "cluster.kubernetesVersion: '1.38.0' is not allowed; this version of hybrid-infra knows Kubernetes 1.31 to 1.37"),
        (("kubernetesVersion",), "2.0.0", "cluster.kubernetesVersion: '2.0.0' is not allowed; this version of hybrid-infra knows Kubernetes 1.31 to 1.37"),
        (("kubernetesVersion",), "latest", "cluster.kubernetesVersion: 'latest' is not allowed; use an exact release such as"),
        (("kubernetesVersion",), 1.31, "cluster.kubernetesVersion: 1.31 is not allowed; expected a string (quote it in YAML)"),
        (("network", "podCidr"), "10.300.0.0/16", "cluster.network.podCidr: '10.300.0.0/16' is not allowed; use an IPv4 network in CIDR form"),
        (("network", "podCidr"), "10.244.0.1/16", "cluster.network.podCidr: '10.244.0.1/16' is not allowed"),
        (("network", "serviceCidr"), "10.20.0.0/16", "cluster.network.serviceCidr: 10.20.0.0/16 overlaps nodeCidr 10.20.0.0/24"),
        (("name",), "Dev_Cluster", "cluster.name: 'Dev_Cluster' is not allowed; use a DNS-1123 label"),
        (("endpoint", "type"), "haproxy", "cluster.endpoint.type: 'haproxy' is not allowed; use one of 'loadBalancer' or 'vip'"),
        (("endpoint", "allowedCidrs"), "0.0.0.0/0", "cluster.endpoint.allowedCidrs: '0.0.0.0/0' is not allowed; expected a list"),
        (("endpoint", "public"), "maybe", "cluster.endpoint.public: 'maybe' is not allowed; expected true or false"),
    ],
)
def test_bad_cluster_values(dev_config, path, value, expected):
    target = dev_config["hybrid-infra:cluster"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    found = problems(dev_config)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "GPU"}, "cluster.pools[0].name: 'GPU' is not allowed; use a DNS-1123 label"),
        ({"name": "control-plane"}, "cluster.pools[0].name: 'control-plane' is not allowed; the name is reserved"),
        ({"count": -1}, "cluster.pools[0].count: -1 is not allowed; use a number >= 0"),
        ({"size": ""}, "cluster.pools[0].size: '' is not allowed; it must not be empty"),
        ({"labels": {"-bad-": "x"}}, "cluster.pools[0].labels.-bad-: '-bad-' is not allowed; use [prefix/]name"),
        ({"labels": {"tier": "not ok"}}, "cluster.pools[0].labels.tier: 'not ok' is not allowed; a label value"),
        ({"taints": ["dedicated=gpu"]}, "cluster.pools[0].taints[0]: 'dedicated=gpu' is not allowed; use key[=value]:Effect"),
        ({"taints": ["dedicated=gpu:Sometimes"]}, "cluster.pools[0].taints[0]: 'dedicated=gpu:Sometimes' is not allowed"),
        ({"virtualisation": True}, "cluster.pools[0].virtualisation: unknown key; did you mean 'virtualization'?"),
    ],
)
def test_bad_pools(dev_config, change, expected):
    dev_config["hybrid-infra:cluster"]["pools"][0].update(change)
    found = problems(dev_config)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_repeated_pool_name(dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][1]["name"] = "general"
    assert problems(dev_config) == ["cluster.pools[1].name: 'general' is not allowed; pool names must be unique"]


def test_missing_keys(dev_config):
    del dev_config["hybrid-infra:cluster"]["controlPlane"]["size"]
    del dev_config["hybrid-infra:openstack"]["image"]
    assert problems(dev_config) == [
        "cluster.controlPlane.size: required key is missing",
        "openstack.image: required key is missing",
    ]


def test_missing_cluster_section(dev_config):
    del dev_config["hybrid-infra:cluster"]
    assert problems(dev_config) == ["hybrid-infra:cluster: required key is missing"]


def test_unknown_top_level_key(dev_config):
    dev_config["hybrid-infra:clustr"] = {}
    assert problems(dev_config) == ["hybrid-infra:clustr: unknown key; did you mean 'hybrid-infra:cluster'?"]


def test_no_platform_section(dev_config):
    del dev_config["hybrid-infra:openstack"]
    sections = ", ".join(f"hybrid-infra:{name}" for name in platforms.names())
    assert problems(dev_config) == [f"openstack: 0 platform sections given (none); set exactly one of: {sections}"]


def test_all_problems_are_reported_together(dev_config):
    cluster = dev_config["hybrid-infra:cluster"]
    cluster["controlPlane"]["cuont"] = 3
    cluster["controlPlane"]["count"] = 2
    cluster["network"]["podCidr"] = "10.96.0.0/16"
    found = problems(dev_config)
    assert found == [
        "cluster.network.serviceCidr: 10.96.0.0/12 overlaps podCidr 10.96.0.0/16; "
        "node, pod and service networks must not overlap",
        "cluster.controlPlane.count: 2 is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)",
        "cluster.controlPlane.cuont: unknown key; did you mean 'count'?",
    ]


def test_component_arguments_get_the_same_messages():
    with pytest.raises(ConfigError) as caught:
        validate(PoolSpec, {"name": "gpu", "count": 1, "size": "xl", "taints": ["x:Never"]}, path="pool")
    assert caught.value.problems == [
        "pool.taints[0]: 'x:Never' is not allowed; use key[=value]:Effect with Effect one of "
        "NoSchedule, PreferNoSchedule, NoExecute"
    ]


def test_nodes_may_not_label_themselves_in_kubernetes_domains(dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][0]["labels"] = {"node-role.kubernetes.io/worker": ""}
    assert problems(dev_config) == [
        "cluster.pools[0].labels.node-role.kubernetes.io/worker: 'node-role.kubernetes.io/worker' is not allowed; "
        "nodes may not label themselves under kubernetes.io or k8s.io (except kubelet.kubernetes.io and node.kubernetes.io)"
    ]
    dev_config["hybrid-infra:cluster"]["pools"][0]["labels"] = {"node.kubernetes.io/pool": "general"}
    parse_stack_config(dev_config)


@pytest.mark.parametrize(
    ("section", "change", "expected"),
    [
        ("hybrid-infra:addons", {"charts": {"cilium": {"repository": "helm.cilium.io", "version": "1.19.3"}}},
         "addons.charts.cilium.repository: 'helm.cilium.io' is not allowed; use an http(s) URL"),
        ("hybrid-infra:addons", {"storageClass": {"reclaimPolicy": "Keep"}},
         "addons.storageClass.reclaimPolicy: 'Keep' is not allowed; use one of 'Delete' or 'Retain'"),
        ("hybrid-infra:cluster", {"pki": {"keyAlgorithm": "dsa"}},
         "cluster.pki.keyAlgorithm: 'dsa' is not allowed; use one of 'ecdsa-p256', 'rsa-2048', 'rsa-3072' or 'rsa-4096'"),
        ("hybrid-infra:cluster", {"registryMirrors": {"docker.io": ["ftp://mirror"]}},
         "cluster.registryMirrors.docker.io[0]: 'ftp://mirror' is not allowed; use an http(s) URL"),
        ("hybrid-infra:cluster", {"readinessTimeoutSeconds": 5},
         "cluster.readinessTimeoutSeconds: 5 is not allowed; use a number >= 10"),
    ],
)
def test_bad_bootstrap_and_addon_values(dev_config, section, change, expected):
    dev_config.setdefault(section, {}).update(change)
    found = problems(dev_config)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["hybrid-infra:cluster"]["network"].update(podCidr="10.244.0.0/25"),
         "cluster.network.podCidr: '10.244.0.0/25' is not allowed; use a network from /8 to /24"),
        (lambda c: c["hybrid-infra:cluster"]["network"].update(serviceCidr="10.96.0.0/11"),
         "cluster.network.serviceCidr: '10.96.0.0/11' is not allowed; use a network from /12 to /28"),
        (lambda c: c["hybrid-infra:cluster"]["network"].update(nodeCidr="10.20.0.0/29"),
         "cluster.network.nodeCidr: 10.20.0.0/29 is not allowed; it holds 4 nodes, the cluster has 8"),
        (lambda c: c["hybrid-infra:cluster"]["network"].update(podCidr="10.244.0.0/22"),
         "cluster.network.podCidr: 10.244.0.0/22 is not allowed; it holds 4 nodes (each node takes a /24 of it), "
         "the cluster has 8"),
        (lambda c: c["hybrid-infra:cluster"]["pools"][0].update(name="g" * 58),
         f"cluster.pools[0].name: '{'g' * 58}' is not allowed; node 'dev-{'g' * 58}-2' would be longer than 63"),
        (lambda c: c["hybrid-infra:cluster"]["pools"].pop(0),
         "cluster.pools: only virtualization pools given; KubeVirt's and CDI's own services run off them"),
        (lambda c: c["hybrid-infra:cluster"]["endpoint"].update(allowedCidrs=[]),
         "cluster.endpoint.allowedCidrs: [] is not allowed with public: true; name the networks of the API's clients"),
        (lambda c: c["hybrid-infra:cluster"]["pools"][0]["labels"].update({"hybrid-infra.io/pool": "x"}),
         "cluster.pools[0].labels.hybrid-infra.io/pool: 'hybrid-infra.io/pool' is not allowed; hybrid-infra sets it"),
        (lambda c: c["hybrid-infra:cluster"]["controlPlane"].update(count=True),
         "cluster.controlPlane.count: True is not allowed; expected a whole number"),
        (lambda c: c["hybrid-infra:cluster"].update(readinessTimeoutSeconds="600"),
         "cluster.readinessTimeoutSeconds: '600' is not allowed; expected a whole number"),
        (lambda c: c["hybrid-infra:workloads"]["virtualMachines"][0]["ports"].append({"name": "erp-https", "port": 9}),
         "workloads.virtualMachines[0].ports[1].name: 'erp-https' is not allowed; port names must be unique"),
    ],
)
def test_sizes_names_and_capacity(dev_config, change, expected):
    change(dev_config)
    found = problems(dev_config)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_secret_keys_are_accepted_only_where_the_stack_encrypted_them(dev_config):
    vm = dev_config["hybrid-infra:workloads"]["virtualMachines"][0]
    vm["userData"] = "#cloud-config\npassword: hunter2\n"
    secret = ["hybrid-infra:openstack.cloudProvider.applicationCredentialSecret"]
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_config, secret)
    assert [line.split(":")[0] for line in caught.value.problems] == ["workloads.virtualMachines[0].userData"]
    parse_stack_config(dev_config, [*secret, "hybrid-infra:workloads.virtualMachines[0].userData"])
    parse_stack_config(dev_config, ["hybrid-infra:openstack", "hybrid-infra:workloads"])
    parse_stack_config(dev_config)  # a program's own arguments: not a stack file


@pytest.mark.parametrize(
    ("workers", "pod_cidr", "expected"),
    [
        (251, "10.244.0.0/16", None),
        (252, "10.244.0.0/16", "10.244.0.0/16 is not allowed; it holds 256 nodes (each node takes a /24 of it), the cluster has 257"),
        (1000, "10.244.0.0/14", None),
        (1002, "10.244.0.0/16", "10.244.0.0/16 is not allowed; it holds 256 nodes (each node takes a /24 of it), the cluster has 1007"),
    ],
)
def test_the_pod_network_holds_a_24_per_node(dev_config, workers, pod_cidr, expected):
    network = dev_config["hybrid-infra:cluster"]["network"]
    network.update(nodeCidr="10.20.0.0/22", podCidr=pod_cidr)
    dev_config["hybrid-infra:cluster"]["pools"][0]["count"] = workers
    dev_config["hybrid-infra:openstack"]["maxServerGroupMembers"] = workers  # the pool is one server group
    if expected is None:
        parse_stack_config(dev_config)
    else:
        assert problems(dev_config) == [f"cluster.network.podCidr: {expected}"]


def test_node_counts_by_pool(dev_config):
    cluster = parse_stack_config(dev_config).cluster
    assert cluster.node_count() == 8
    assert cluster.node_count(["control-plane"]) == 3
    assert cluster.node_count(["general", "virt"]) == 5


# --- every problem at once, whichever way the models are built ---------------------------------


def test_a_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
    assert ConfigError(["cluster.name: required key is missing"]).problems == ["cluster.name: required key is missing"]


def test_a_model_built_directly_names_the_keys_as_a_stack_file_does():
    with pytest.raises(ConfigError) as caught:
        PoolSpec(name="x", count=-1, size="s")
    assert caught.value.problems == ["count: -1 is not allowed; use a number >= 0"]
    given: dict[str, Any] = {
        "name": "dev",
        "control_plane": {"count": 2, "size": "medium"},
        "pools": [{"name": "general", "count": 1, "size": "large", "virtualisation": True}],
        "readiness_timeout_seconds": 3,
    }
    expected = [
        "cluster.controlPlane.count: 2 is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)",
        "cluster.pools[0].virtualisation: unknown key; did you mean 'virtualization'?",
        "cluster.readinessTimeoutSeconds: 3 is not allowed; use a number >= 10",
    ]
    with pytest.raises(ConfigError) as caught:
        ClusterSpec(**given)
    assert caught.value.problems == expected
    with pytest.raises(ConfigError) as caught:
        ClusterSpec.model_validate(given)
    assert caught.value.problems == expected
    with pytest.raises(ConfigError) as caught:
        ClusterSpec.model_validate_json(json.dumps(given))
    assert caught.value.problems == expected
    # A component's argument, spelled as Python spells the keys, under the name the caller gives it.
    with pytest.raises(ConfigError) as caught:
        validate(ClusterSpec, given, path="cluster")
    assert caught.value.problems == expected


def test_a_key_named_from_the_top_is_named_once_under_a_components_argument():
    cluster = {"name": "dev", "controlPlane": {"size": "medium"}, "pools": [{"name": "g" * 58, "count": 3, "size": "large"}]}
    expected = [f"cluster.pools[0].name: '{'g' * 58}' is not allowed; node 'dev-{'g' * 58}-2' would be longer than 63 characters"]
    with pytest.raises(ConfigError) as caught:
        validate(ClusterSpec, cluster, path="cluster")
    assert caught.value.problems == expected
    with pytest.raises(ConfigError) as caught:
        ClusterSpec(**cluster)
    assert caught.value.problems == expected


class _Wrapper(Spec):
    pool: Any

    @field_validator("pool")
    @classmethod
    def _built(cls, value: Any) -> PoolSpec:
        return PoolSpec(**value)


def test_a_model_built_while_validating_another_names_its_keys_below_the_field():
    with pytest.raises(ConfigError) as caught:
        _Wrapper(pool={"name": "gpu", "count": -1, "size": ""})
    assert caught.value.problems == [
        "pool.count: -1 is not allowed; use a number >= 0",
        "pool.size: '' is not allowed; it must not be empty",
    ]


def test_every_platform_choice_that_names_no_section_is_reported(dev_config):
    cluster = dev_config["hybrid-infra:cluster"]
    cluster["controlPlane"]["platform"] = "elsewhere"
    cluster["pools"][1]["platform"] = "nowhere"
    assert problems(dev_config) == [
        "cluster.controlPlane.platform: 'elsewhere' is not allowed; name a platform section of this stack: openstack",
        "cluster.pools[1].platform: 'nowhere' is not allowed; name a platform section of this stack: openstack",
    ]


def test_every_disk_without_a_storage_class_is_reported(dev_config):
    dev_config["hybrid-infra:openstack"].pop("cloudProvider")
    missing = (
        "no default StorageClass exists for the VM's disk; set openstack.cloudProvider (Cinder CSI makes one) "
        "or name a StorageClass"
    )
    assert problems(dev_config) == [
        f"workloads.virtualMachines[0].disk.storageClass: {missing}",
        f"workloads.virtualMachines[1].disk.storageClass: {missing}",
        f"workloads.virtualMachines[2].disk.storageClass: {missing}",
        f"workloads.virtualMachines[2].dataDisks[0].storageClass: {missing}",
    ]
    # A data disk that names its class needs no default.
    dev_config["hybrid-infra:workloads"]["virtualMachines"][2]["dataDisks"][0]["storageClass"] = "fast"
    assert len(problems(dev_config)) == 3


def test_every_workload_problem_is_reported_at_once(dev_config):
    workloads = dev_config["hybrid-infra:workloads"]
    workloads["virtualMachines"][0]["networks"] = ["storage-net"]
    workloads["virtualMachines"][1]["allowFrom"] = ["api", "worker"]
    workloads["virtualMachines"][2]["name"] = "web"
    assert problems(dev_config) == [
        "workloads.virtualMachines[0].networks: ['storage-net'] is not allowed without Multus; set addons.multus.enabled: true",
        "workloads.virtualMachines[1].allowFrom: 'api' is not allowed; name a container app in workloads.containers: web",
        "workloads.virtualMachines[1].allowFrom: 'worker' is not allowed; name a container app in workloads.containers: web",
        "workloads: 'web' is not allowed; workload names must be unique",
    ]


def test_every_vm_without_a_virtualization_pool_is_reported(dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][1]["virtualization"] = False
    assert problems(dev_config) == [
        f"workloads.virtualMachines[{index}]: {name!r} needs a pool marked for virtualization; set virtualization: "
        "true on a pool in cluster.pools"
        for index, name in enumerate(["erp", "win-app", "reports"])
    ]


def test_every_cluster_problem_is_reported_at_once(dev_config):
    cluster = dev_config["hybrid-infra:cluster"]
    cluster["network"].update(podCidr="10.20.0.0/16", serviceCidr="10.16.0.0/12")
    cluster["pools"] += [{**cluster["pools"][0]}, {**cluster["pools"][1]}]
    assert problems(dev_config) == [
        "cluster.network.podCidr: 10.20.0.0/16 overlaps nodeCidr 10.20.0.0/24; node, pod and service networks must not overlap",
        "cluster.network.serviceCidr: 10.16.0.0/12 overlaps nodeCidr 10.20.0.0/24; node, pod and service networks must not overlap",
        "cluster.network.serviceCidr: 10.16.0.0/12 overlaps podCidr 10.20.0.0/16; node, pod and service networks must not overlap",
        "cluster.pools[2].name: 'general' is not allowed; pool names must be unique",
        "cluster.pools[3].name: 'virt' is not allowed; pool names must be unique",
    ]


def test_every_label_a_node_may_not_set_is_reported(dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][0]["labels"] = {
        "hybrid-infra.io/pool": "x",
        "tier": "general",
        "node-role.kubernetes.io/worker": "",
    }
    assert problems(dev_config) == [
        "cluster.pools[0].labels.hybrid-infra.io/pool: 'hybrid-infra.io/pool' is not allowed; hybrid-infra sets it to "
        "the pool's name",
        "cluster.pools[0].labels.node-role.kubernetes.io/worker: 'node-role.kubernetes.io/worker' is not allowed; nodes "
        "may not label themselves under kubernetes.io or k8s.io (except kubelet.kubernetes.io and node.kubernetes.io)",
    ]


def test_every_pool_the_cluster_cannot_hold_is_reported(dev_config):
    cluster = dev_config["hybrid-infra:cluster"]
    cluster["network"].update(nodeCidr="10.20.0.0/29", podCidr="10.244.0.0/22")
    cluster["pools"][0]["name"] = "g" * 58
    cluster["pools"][1]["name"] = "v" * 58
    assert problems(dev_config) == [
        f"cluster.pools[0].name: '{'g' * 58}' is not allowed; node 'dev-{'g' * 58}-2' would be longer than 63 characters",
        f"cluster.pools[1].name: '{'v' * 58}' is not allowed; node 'dev-{'v' * 58}-1' would be longer than 63 characters",
        "cluster.network.nodeCidr: 10.20.0.0/29 is not allowed; it holds 4 nodes, the cluster has 8",
        "cluster.network.podCidr: 10.244.0.0/22 is not allowed; it holds 4 nodes (each node takes a /24 of it), "
        "the cluster has 8",
    ]


def test_bad_sizes_are_reported_beside_the_problems_of_other_keys(dev_config):
    cluster = dev_config["hybrid-infra:cluster"]
    cluster["pools"][0]["size"] = "huge"
    cluster["pools"][1]["size"] = "tiny"
    cluster["endpointt"] = cluster.pop("endpoint")
    assert problems(dev_config) == [
        "cluster.endpointt: unknown key; did you mean 'endpoint'?",
        "cluster.pools[0].size: 'huge' is not allowed; use a size defined in openstack.flavors: large, medium, virt",
        "cluster.pools[1].size: 'tiny' is not allowed; use a size defined in openstack.flavors: large, medium, virt",
    ]


def test_a_stacks_platform_section_typed_as_its_own_model(dev_config):
    from hybrid_infra.platforms.aws import AwsSpec
    from hybrid_infra.platforms.openstack import OpenStackSpec

    stack = parse_stack_config(dev_config)
    section: OpenStackSpec = stack.section(OpenStackSpec)
    assert section is stack.platform_section
    with pytest.raises(ConfigError) as caught:
        stack.section(AwsSpec)
    assert caught.value.problems == [
        "hybrid-infra:aws: required key is missing; this program runs on aws, the stack gives openstack"
    ]
