"""What a program that builds the components in code needs: typed parts checked together, and
secrets given as Pulumi outputs."""

from __future__ import annotations

import importlib

import pulumi
import pytest
import yaml

from hybrid_infra import (
    AddonsSpec,
    ClusterSpec,
    ConfigError,
    ControlPlaneSpec,
    PoolSpec,
    VirtualMachine,
    parse_stack_config,
    platforms,
    stack_spec,
)
from hybrid_infra.config.fields import Spec
from hybrid_infra.offline.plan import Redactor
from hybrid_infra.platforms.openstack import OpenStackSpec
from hybrid_infra.testing import Secret, simulate

SECTION = {
    "externalNetwork": "public",
    "image": "ubuntu-24.04",
    "flavors": {"medium": "m1.medium", "large": "m1.large"},
}


def cluster(*pools: PoolSpec) -> ClusterSpec:
    return ClusterSpec(name="team", control_plane=ControlPlaneSpec(count=1, size="medium"), pools=list(pools))


def test_typed_parts_make_the_stack_a_stack_file_would():
    spec = stack_spec(cluster(PoolSpec(name="apps", count=2, size="large")), OpenStackSpec(**SECTION), AddonsSpec())
    assert spec.platform == "openstack"
    from_file = parse_stack_config(
        {
            "hybrid-infra:cluster": {
                "name": "team",
                "controlPlane": {"count": 1, "size": "medium"},
                "pools": [{"name": "apps", "count": 2, "size": "large"}],
            },
            "hybrid-infra:openstack": SECTION,
        }
    )
    assert spec == from_file


def test_typed_parts_are_checked_across_sections_as_a_stack_file_is():
    with pytest.raises(ConfigError) as caught:
        stack_spec(cluster(PoolSpec(name="apps", count=2, size="huge")), OpenStackSpec(**SECTION))
    assert caught.value.problems == [
        "cluster.pools[0].size: 'huge' is not allowed; use a size defined in openstack.flavors: large, medium"
    ]


def test_a_section_of_no_platform_is_refused():
    with pytest.raises(ConfigError) as caught:
        stack_spec(cluster(), AddonsSpec())  # type: ignore[arg-type]
    assert caught.value.problems == [
        f"AddonsSpec is not allowed; give the section of a platform: {', '.join(platforms.names())}"
    ]


def test_a_secret_given_as_an_output_reaches_the_resource_and_stays_secret(dev_config):
    spec = parse_stack_config(dev_config)

    def program() -> None:
        user_data = pulumi.Output.from_input("#cloud-config\nhostname: legacy\n")
        VirtualMachine(
            "legacy",
            {
                "name": "legacy",
                "disk": {"source": "docker://quay.io/containerdisks/fedora:41", "size": "10Gi"},
                "memory": "1Gi",
                "userData": user_data,
            },
            spec.cluster,
            opts=pulumi.ResourceOptions(),
        )

    result = simulate(program, stack="test", config={})
    (secret,) = [r for r in result.of_type("kubernetes:core/v1:Secret") if r.name == "legacy-cloud-init"]
    assert isinstance(secret.inputs["stringData"], Secret)
    shown = Redactor(result, show_secrets=True).value(secret.inputs)
    assert yaml.safe_load(shown["stringData"]["userdata"]) == {"hostname": "legacy"}


def test_a_secret_given_as_an_output_is_not_read_as_text():
    refused: list[str] = []

    def program() -> None:
        # Outputs belong to a running program: this one is given by Pulumi's config.
        spec = OpenStackSpec(
            **SECTION,
            cloud_provider={
                "auth_url": "https://keystone.example.com:5000/v3",
                "application_credential_id": "id",
                "application_credential_secret": pulumi.Config().require_secret("secret"),
            },
        )
        assert spec.cloud_provider is not None
        try:
            spec.cloud_provider.application_credential_secret.get_secret_value()
        except TypeError as error:
            refused.append(str(error))

    simulate(program, stack="test", config={"hybrid-infra:secret": "s3cret"}, secret_keys=["hybrid-infra:secret"])
    assert refused == ["this secret is a Pulumi output; pass hybrid_infra.config.secret_input(secret) to the resource"]


@pytest.mark.parametrize(
    ("platform", "section", "component"),
    [("openstack", "OpenStackSpec", "OpenStackInfrastructure"), ("vsphere", "VSphereSpec", "VSphereInfrastructure"),
     ("aws", "AwsSpec", "AwsInfrastructure")],
)
def test_every_platform_package_makes_its_section_and_infrastructure_public(platform, section, component):
    package = importlib.import_module(f"hybrid_infra.platforms.{platform}")
    assert getattr(package, section) is platforms.section_model(platform)
    assert getattr(package, component) is platforms.infrastructure_class(platform)
    assert {section, component} <= set(package.__all__) and all(hasattr(package, name) for name in package.__all__)
    # Every model of the section is public, so a program can build the section in code.
    models = {name for name, value in vars(importlib.import_module(f"{package.__name__}.config")).items()
              if isinstance(value, type) and issubclass(value, Spec) and value.__module__.endswith(f"{platform}.config")
              and name == value.__name__}
    assert models <= set(package.__all__)


def test_the_vsphere_section_and_infrastructure_are_public():
    from hybrid_infra.platforms import vsphere

    assert vsphere.VSphereSpec is platforms.section_model("vsphere")
    assert vsphere.VSphereInfrastructure is platforms.infrastructure_class("vsphere")
    assert {"VSphereSize", "VSphereNetworkSpec", "VSphereStaticSpec", "VSphereCloudProviderSpec"} <= set(vsphere.__all__)
    assert all(hasattr(vsphere, name) for name in vsphere.__all__)


def test_a_vcenter_password_given_as_an_output_reaches_the_cloud_providers_secrets_as_secrets():
    from hybrid_infra.platforms.vsphere import (
        VSphereCloudProviderSpec,
        VSphereEndpointSpec,
        VSphereInfrastructure,
        VSphereNetworkSpec,
        VSphereSize,
        VSphereSpec,
        VSphereStaticSpec,
    )

    def program() -> None:
        stack = stack_spec(
            ClusterSpec(name="lab", control_plane=ControlPlaneSpec(count=1, size="medium")),
            VSphereSpec(
                datacenter="dc-1",
                compute_cluster="cluster-1",
                datastore="ds-1",
                template="ubuntu-24.04",
                sizes={"medium": VSphereSize(cpus=2, memory="4Gi", disk="40Gi")},
                network=VSphereNetworkSpec(
                    port_group="k8s",
                    static=VSphereStaticSpec(
                        gateway="10.20.0.1", dns_servers=["10.20.0.2"], ranges={"control-plane": "10.20.0.10-10.20.0.12"}
                    ),
                ),
                endpoint=VSphereEndpointSpec(address="10.20.0.5"),
                cloud_provider=VSphereCloudProviderSpec(
                    server="vcenter.example.com",
                    username="k8s@vsphere.local",
                    password=pulumi.Config().require_secret("vcenterPassword"),
                ),
            ),
        )
        infrastructure = VSphereInfrastructure("lab-vsphere", stack.cluster, stack.platform_section)
        infrastructure.create_cloud_provider("lab-cloud-provider", stack.addons, pulumi.ResourceOptions())

    result = simulate(
        program, stack="test", config={"hybrid-infra:vcenterPassword": "vc-s3cret"}, secret_keys=["hybrid-infra:vcenterPassword"]
    )
    secrets = {r.name: r.inputs["stringData"] for r in result.of_type("kubernetes:core/v1:Secret")}
    assert all(isinstance(data, Secret) for data in secrets.values())
    assert secrets["lab-cloud-provider-cpi-credentials"].value["vcenter.example.com.password"] == "vc-s3cret"
    assert 'password = "vc-s3cret"' in secrets["lab-cloud-provider-csi-config"].value["csi-vsphere.conf"]


def test_a_program_adds_a_pool_to_a_built_cluster(dev_config):
    from hybrid_infra import KubernetesCluster
    from hybrid_infra.platforms.openstack import OpenStackInfrastructure

    spec = parse_stack_config(dev_config)
    refused: list[str] = []

    def program() -> None:
        section = spec.section(OpenStackSpec)
        infrastructure = OpenStackInfrastructure("dev-openstack", spec.cluster, section)
        built = KubernetesCluster("dev", spec.cluster, infrastructure)
        built.add_pool(PoolSpec(name="batch", count=2, size="large", labels={"tier": "batch"}))
        try:
            built.add_pool({"name": "general", "count": 1, "size": "large"})
        except ConfigError as error:
            refused.extend(error.problems)

    result = simulate(program, stack="dev", config=dev_config)
    instances = {r.inputs["name"]: r for r in result.of_type("openstack:compute/instance:Instance")}
    assert {"dev-batch-0", "dev-batch-1"} <= set(instances)
    # Each added node joins with a token of its own, kept as a bootstrap-token Secret like the others'.
    secrets = {r.name for r in result.of_type("kubernetes:core/v1:Secret")}
    assert {"dev-join-token-dev-batch-0", "dev-join-token-dev-batch-1"} <= secrets
    user_data = Redactor(result, show_secrets=True).value(instances["dev-batch-1"].inputs["userData"])
    assert "kind: JoinConfiguration" in user_data and "tier=batch" in user_data
    assert refused == ["pool.name: 'general' is not allowed; the cluster has a pool of that name"]
