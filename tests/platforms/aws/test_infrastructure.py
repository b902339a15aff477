"""AWS infrastructure on the simulated cloud, in preview and in update mode."""

from __future__ import annotations

import base64
import gzip
import importlib
import ipaddress
from typing import Any

import pulumi
import yaml

from hybrid_infra.bootstrap.kubeadm import PROVIDER_ID_PLACEHOLDER
from hybrid_infra.offline.simulate import Secret, Simulation, Unknown
from hybrid_infra.platforms.aws.config import CANONICAL_OWNER, UBUNTU_IMAGES
from hybrid_infra.platforms.aws.nodes import EC2_MAX_USER_DATA, NODE_CREATION_INPUTS
from tests.platforms.aws.conftest import INGRESS, INSTANCE, LOAD_BALANCER, instances, run

PLATFORM_MODULES = ["network", "endpoint", "iam", "nodes", "cloud_provider", "infrastructure"]
NODES = ["aws-cp-0", "aws-cp-1", "aws-cp-2", "aws-general-0", "aws-general-1", "aws-general-2", "aws-virt-0", "aws-virt-1"]


def zones(result: Simulation) -> dict[str, str]:
    return {node["name"]: node["faultDomain"] for node in result.outputs["nodes"]}


def test_preview_registers_the_same_resources_with_unknown_outputs(aws_stack, aws_config):
    preview = run(aws_config, preview=True)
    assert [r.urn for r in preview.resources] == [r.urn for r in aws_stack.resources]
    instance = next(r for r in preview.resources if r.type == INSTANCE)
    assert "privateIp" not in instance.outputs
    assert isinstance(preview.outputs["endpoint"], Unknown)


def test_nodes_of_every_pool(aws_stack):
    nodes = instances(aws_stack)
    assert sorted(nodes) == NODES
    assert {name: inputs["instanceType"] for name, inputs in nodes.items()} == {
        **{f"aws-cp-{i}": "m8i.large" for i in range(3)},
        **{f"aws-general-{i}": "m8i.xlarge" for i in range(3)},
        **{f"aws-virt-{i}": "m8i.2xlarge" for i in range(2)},
    }
    assert nodes["aws-general-1"]["tags"] == {
        "Name": "aws-general-1",
        "kubernetes.io/cluster/aws": "owned",
        "hybrid-infra-pool": "general",
        "hybrid-infra-role": "worker",
    }


def test_every_instance_requires_imdsv2_with_a_hop_limit_of_one(aws_stack):
    for name, inputs in instances(aws_stack).items():
        assert inputs["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
            "instanceMetadataTags": "disabled",
        }, name


def test_nested_virtualization_on_exactly_the_virtualization_pool(aws_stack):
    enabled = sorted(name for name, inputs in instances(aws_stack).items() if inputs.get("cpuOptions"))
    assert enabled == ["aws-virt-0", "aws-virt-1"]
    for name in enabled:
        assert instances(aws_stack)[name]["cpuOptions"] == {"nestedVirtualization": "enabled"}


def test_bare_metal_virtualization_nodes_need_no_cpu_option(aws_config):
    aws_config["hybrid-infra:aws"]["instanceTypes"]["virt"] = "m8i.metal-48xl"
    assert not [name for name, inputs in instances(run(aws_config)).items() if inputs.get("cpuOptions")]


def test_control_plane_nodes_in_distinct_zones_and_pools_spread_over_them(aws_stack):
    placed = zones(aws_stack)
    assert [placed[f"aws-cp-{i}"] for i in range(3)] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert [placed[f"aws-general-{i}"] for i in range(3)] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    # Virtualization nodes two by two: a VM's zonal disk has a second node to restart on.
    assert [placed[f"aws-virt-{i}"] for i in range(2)] == ["us-east-1a", "us-east-1a"]
    subnets = {r.resource_id: r.inputs["availabilityZone"] for r in aws_stack.of_type("aws:ec2/subnet:Subnet")}
    for name, inputs in instances(aws_stack).items():
        assert subnets[inputs["subnetId"]] == placed[name], name


def test_nodes_boot_ubuntu_lts_from_encrypted_gp3_volumes(aws_stack):
    (infrastructure,) = aws_stack.of_type("hybrid-infra:index:AwsInfrastructure")
    image = infrastructure.outputs["imageId"]
    assert (CANONICAL_OWNER, UBUNTU_IMAGES) == ("099720109477", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*")
    for name, inputs in instances(aws_stack).items():
        assert inputs["ami"] == image, name
        assert inputs["rootBlockDevice"] == {
            "volumeType": "gp3", "volumeSize": 50, "encrypted": True, "deleteOnTermination": True
        }, name


def test_user_data_is_the_secret_compressed_cloud_config(aws_stack):
    (cluster,) = aws_stack.of_type("hybrid-infra:index:KubernetesCluster")
    cloud_configs = cluster.outputs["userData"].value
    for name, inputs in instances(aws_stack).items():
        packed = inputs["userDataBase64"]
        assert isinstance(packed, Secret), name
        raw = base64.b64decode(packed.value)
        assert len(raw) <= EC2_MAX_USER_DATA, name
        assert gzip.decompress(raw).decode() == cloud_configs[name], name
        assert "userData" not in inputs


def test_nodes_register_with_their_provider_id(aws_stack):
    (cluster,) = aws_stack.of_type("hybrid-infra:index:KubernetesCluster")
    for name, text in cluster.outputs["userData"].value.items():
        files = {entry["path"]: entry["content"] for entry in yaml.safe_load(text)["write_files"]}
        script = files["/usr/local/sbin/hybrid-infra-provider-id"]
        assert "readonly TEMPLATE='aws:///{{ v1.availability_zone }}/{{ v1.instance_id }}'" in script, name
        kubeadm = next(content for path, content in files.items() if path.startswith("/etc/hybrid-infra/kubeadm-"))
        registration = next(yaml.safe_load_all(kubeadm))["nodeRegistration"]
        args = {arg["name"]: arg["value"] for arg in registration["kubeletExtraArgs"]}
        assert (args["cloud-provider"], args["provider-id"]) == ("external", PROVIDER_ID_PLACEHOLDER), name


def test_inputs_that_only_matter_at_creation_never_replace_running_nodes(aws_stack):
    for instance in aws_stack.of_type(INSTANCE):
        assert instance.ignore_changes == sorted(NODE_CREATION_INPUTS) == ["ami", "keyName", "subnetId", "userDataBase64"]


def test_a_vpc_with_a_private_and_a_public_subnet_per_zone(aws_stack):
    (vpc,) = aws_stack.of_type("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.30.0.0/16"
    assert vpc.inputs["enableDnsHostnames"] is True
    subnets = {r.inputs["tags"]["Name"]: r.inputs for r in aws_stack.of_type("aws:ec2/subnet:Subnet")}
    assert {name: inputs["cidrBlock"] for name, inputs in subnets.items()} == {
        "aws-private-us-east-1a": "10.30.0.0/19",
        "aws-private-us-east-1b": "10.30.32.0/19",
        "aws-private-us-east-1c": "10.30.64.0/19",
        "aws-public-us-east-1a": "10.30.128.0/19",
        "aws-public-us-east-1b": "10.30.160.0/19",
        "aws-public-us-east-1c": "10.30.192.0/19",
    }
    assert subnets["aws-private-us-east-1a"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    assert subnets["aws-public-us-east-1a"]["tags"]["kubernetes.io/role/elb"] == "1"
    assert all(inputs["tags"]["kubernetes.io/cluster/aws"] == "owned" for inputs in subnets.values())
    assert len(aws_stack.of_type("aws:ec2/natGateway:NatGateway")) == 3
    private_routes = [r for r in aws_stack.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert all(r.inputs["routes"][0].get("natGatewayId") for r in private_routes)
    # AWS keeps a subnet's first four addresses.
    assert min(ipaddress.ip_address(n["address"]) for n in aws_stack.outputs["nodes"]) == ipaddress.ip_address("10.30.0.4")


def test_an_existing_vpc_is_reused_and_its_subnets_tagged_shared(aws_config):
    aws_config["hybrid-infra:aws"]["network"] = {
        "existingVpcId": "vpc-0123456789abcdef0",
        "privateSubnetIds": ["subnet-0a", "subnet-0b", "subnet-0c"],
        "publicSubnetIds": ["subnet-1a", "subnet-1b", "subnet-1c"],
    }
    result = run(aws_config)
    for kind in ("vpc:Vpc", "subnet:Subnet", "natGateway:NatGateway", "internetGateway:InternetGateway"):
        assert not result.of_type(f"aws:ec2/{kind}"), kind
    tags = {r.inputs["resourceId"]: (r.inputs["key"], r.inputs["value"]) for r in result.of_type("aws:ec2/tag:Tag")}
    assert tags == {
        subnet: ("kubernetes.io/cluster/aws", "shared")
        for subnet in ("subnet-0a", "subnet-0b", "subnet-0c", "subnet-1a", "subnet-1b", "subnet-1c")
    }
    assert {r.inputs["vpcId"] for r in result.of_type("aws:ec2/securityGroup:SecurityGroup")} == {"vpc-0123456789abcdef0"}
    placed = {name: inputs["subnetId"] for name, inputs in instances(result).items()}
    assert [placed[f"aws-cp-{i}"] for i in range(3)] == ["subnet-0a", "subnet-0b", "subnet-0c"]
    network = ipaddress.ip_network("10.30.0.0/16")
    assert all(ipaddress.ip_address(n["address"]) in network for n in result.outputs["nodes"])


def test_internal_and_internet_facing_load_balancers_front_the_control_plane(aws_stack):
    balancers = {r.inputs["name"]: r for r in aws_stack.of_type(LOAD_BALANCER)}
    assert sorted(balancers) == ["aws-api", "aws-api-public"]
    assert (balancers["aws-api"].inputs["internal"], balancers["aws-api-public"].inputs["internal"]) == (True, False)
    subnets = {r.resource_id: r.inputs["tags"]["Name"] for r in aws_stack.of_type("aws:ec2/subnet:Subnet")}
    assert all(subnets[s].startswith("aws-private-") for s in balancers["aws-api"].inputs["subnets"])
    assert all(subnets[s].startswith("aws-public-") for s in balancers["aws-api-public"].inputs["subnets"])
    for balancer in balancers.values():
        assert balancer.inputs["loadBalancerType"] == "network"
    listeners = aws_stack.of_type("aws:lb/listener:Listener")
    assert [(r.inputs["port"], r.inputs["protocol"]) for r in listeners] == [(6443, "TCP"), (6443, "TCP")]
    groups = aws_stack.of_type("aws:lb/targetGroup:TargetGroup")
    for group in groups:
        inputs = group.inputs
        assert (inputs["port"], inputs["protocol"], inputs["targetType"], inputs["preserveClientIp"]) == (6443, "TCP", "ip", "false")
        assert (inputs["healthCheck"]["protocol"], inputs["healthCheck"]["path"]) == ("HTTPS", "/readyz")
    control_plane = sorted(n["address"] for n in aws_stack.outputs["nodes"] if n["role"] == "control-plane")
    for group in groups:
        attached = [r.inputs for r in aws_stack.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
                    if r.inputs["targetGroupArn"] == group.outputs["arn"]]
        assert sorted(a["targetId"] for a in attached) == control_plane
        assert {a["port"] for a in attached} == {6443}
    # Nodes dial the internal balancer; clients the internet-facing one.
    assert aws_stack.outputs["endpoint"] == balancers["aws-api-public"].outputs["dnsName"]
    (cluster,) = aws_stack.of_type("hybrid-infra:index:KubernetesCluster")
    assert cluster.outputs["apiAddress"] == balancers["aws-api"].outputs["dnsName"]


def test_a_private_endpoint_has_only_the_internal_load_balancer(aws_config):
    aws_config["hybrid-infra:cluster"]["endpoint"] = {"type": "loadBalancer", "public": False}
    result = run(aws_config)
    (balancer,) = result.of_type(LOAD_BALANCER)
    assert balancer.inputs["internal"] is True
    assert result.outputs["endpoint"] == balancer.outputs["dnsName"]


def test_endpoint_exists_before_any_node(aws_stack):
    by_urn = {r.urn: r for r in aws_stack.resources}
    for balancer in aws_stack.of_type(LOAD_BALANCER):
        assert not any(by_urn[d].type == INSTANCE for d in balancer.dependencies)
    attachment = aws_stack.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")[0]
    assert any(by_urn[d].type == INSTANCE for d in attachment.dependencies)


def rules(result: Simulation) -> list[dict[str, Any]]:
    groups = {r.resource_id: r.inputs["description"] for r in result.of_type("aws:ec2/securityGroup:SecurityGroup")}
    found = []
    for rule in result.of_type(INGRESS):
        inputs = dict(rule.inputs)
        inputs["group"] = groups[inputs["securityGroupId"]]
        if inputs.get("referencedSecurityGroupId"):
            inputs["source"] = groups[inputs["referencedSecurityGroupId"]]
        found.append(inputs)
    return found


def test_the_api_port_opens_only_to_the_node_network_and_allowed_cidrs(aws_stack):
    api = [r for r in rules(aws_stack) if r.get("fromPort") == 6443]
    by_group = {}
    for rule in api:
        by_group.setdefault(rule["group"], []).append(rule.get("cidrIpv4") or rule["source"])
    assert {group: sorted(sources) for group, sources in by_group.items()} == {
        "aws Kubernetes API load balancers": ["10.30.0.0/16", "198.51.100.0/24"],
        "aws Kubernetes control-plane nodes": ["10.30.0.0/16", "198.51.100.0/24", "aws Kubernetes API load balancers"],
    }
    assert not [r for r in rules(aws_stack) if r.get("fromPort") == 22]
    assert not [r for r in rules(aws_stack) if r.get("cidrIpv4") == "0.0.0.0/0"]


def test_etcd_only_between_control_plane_nodes_and_the_cni_between_all(aws_stack):
    etcd = [r for r in rules(aws_stack) if r.get("fromPort") == 2379]
    assert [(r["group"], r["toPort"], r["source"]) for r in etcd] == [
        ("aws Kubernetes control-plane nodes", 2380, "aws Kubernetes control-plane nodes")
    ]
    cilium = {(r["group"], r["ipProtocol"], r["fromPort"], r["toPort"]) for r in rules(aws_stack) if r["description"].startswith("cilium")}
    assert ("aws Kubernetes worker nodes", "udp", 8472, 8472) in cilium
    assert ("aws Kubernetes control-plane nodes", "icmp", -1, -1) in cilium


def test_ssh_opens_only_to_the_cidrs_asked(aws_config):
    aws_config["hybrid-infra:aws"]["sshAllowedCidrs"] = ["192.0.2.0/28"]
    ssh = [r for r in rules(run(aws_config)) if r.get("fromPort") == 22]
    assert sorted((r["group"], r["cidrIpv4"]) for r in ssh) == [
        ("aws Kubernetes control-plane nodes", "192.0.2.0/28"),
        ("aws Kubernetes worker nodes", "192.0.2.0/28"),
    ]


def test_node_security_groups_carry_the_cluster_tag_and_open_egress(aws_stack):
    groups = {r.inputs["description"]: r for r in aws_stack.of_type("aws:ec2/securityGroup:SecurityGroup")}
    for role in ("control-plane", "worker"):
        group = groups[f"aws Kubernetes {role} nodes"]
        assert group.inputs["tags"]["kubernetes.io/cluster/aws"] == "owned"
    # One tagged group per instance: the one the cloud controller manager opens Service ports in.
    assert "kubernetes.io/cluster/aws" not in groups["aws Kubernetes API load balancers"].inputs["tags"]
    for name, inputs in instances(aws_stack).items():
        assert len(inputs["vpcSecurityGroupIds"]) == 1, name
    egress = aws_stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert sorted((r.inputs["ipProtocol"], r.inputs.get("cidrIpv4") or "control plane") for r in egress) == [
        ("-1", "0.0.0.0/0"), ("-1", "0.0.0.0/0"), ("tcp", "control plane")
    ]


def test_every_component_is_exported_with_its_type_token(aws_stack):
    modules = [importlib.import_module(f"hybrid_infra.platforms.aws.{name}") for name in PLATFORM_MODULES]
    exported = {
        name for module in modules for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, pulumi.ComponentResource)
    }
    created = {r.type.split(":")[-1] for r in aws_stack.resources if r.type.startswith("hybrid-infra:index:Aws")}
    assert created == {name for name in exported if name.startswith("Aws")}
