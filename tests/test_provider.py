"""The component provider: its schema as Pulumi's own analyzer builds it, and its components built
as the provider host builds them for a program in another language."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from pulumi.errors import InputPropertiesError
from pulumi.provider.experimental.component import ComponentProvider
from pydantic import BaseModel

import hybrid_infra
from hybrid_infra import platforms
from hybrid_infra.config import args as typed
from hybrid_infra.offline.simulate import Simulation, simulate
from hybrid_infra.platform import HybridPlatform
from hybrid_infra.platforms.args import PlatformSections
from hybrid_infra.platforms.contract import ApiEndpoint, Infrastructure, NodePool
from hybrid_infra.provider import COMPONENTS, component_provider
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.testing import Secret
from tests.conftest import ROOT


def public_components() -> list[type[pulumi.ComponentResource]]:
    """The components of ``hybrid_infra``'s API, less the contract's bases that platforms implement."""
    found = [getattr(hybrid_infra, name) for name in hybrid_infra.__all__]
    return [
        item
        for item in found
        if inspect.isclass(item)
        and issubclass(item, pulumi.ComponentResource)
        and not issubclass(item, (ApiEndpoint, Infrastructure, NodePool))
    ]


@pytest.fixture(scope="module")
def provider() -> ComponentProvider:
    return component_provider("0.1.0")


@pytest.fixture(scope="module")
def schema(provider) -> dict[str, Any]:
    return json.loads(provider.schema)


def test_the_schema_lists_every_public_component(schema):
    assert schema["name"] == "hybrid-infra"
    assert sorted(schema["resources"]) == sorted(f"hybrid-infra:index:{c.__name__}" for c in public_components())
    assert sorted(c.__name__ for c in COMPONENTS) == sorted(c.__name__ for c in public_components())


def test_every_component_has_described_inputs_and_outputs(schema):
    for token, resource in schema["resources"].items():
        assert resource["isComponent"] is True, token
        assert resource["description"], token
        assert resource["inputProperties"] and resource["properties"], token
        for kind in ("inputProperties", "properties"):
            for key, prop in resource[kind].items():
                assert prop.get("description"), f"{token} {kind}.{key}"
        assert set(resource["requiredInputs"]) <= set(resource["inputProperties"]), token


def test_every_type_is_described(schema):
    for token, declared in schema["types"].items():
        assert declared.get("description"), token
        for key, prop in declared["properties"].items():
            assert prop.get("description"), f"{token}.{key}"


def test_structure_is_plain_and_secrets_are_inputs(schema):
    cluster = schema["resources"]["hybrid-infra:index:KubernetesCluster"]["inputProperties"]["cluster"]
    assert cluster["plain"] is True
    credential = schema["types"]["hybrid-infra:index:OpenStackCloudProviderSpec"]["properties"]
    assert credential["applicationCredentialSecret"] == {"description": "Its secret; give it as a secret.", "type": "string"}
    assert credential["authUrl"]["plain"] is True


MODELS = {
    **{name: model for name, model in vars(hybrid_infra.config.cluster).items() if inspect.isclass(model)},
    **{name: model for name, model in vars(hybrid_infra.config.addons).items() if inspect.isclass(model)},
    **{name: model for name, model in vars(hybrid_infra.config.workloads).items() if inspect.isclass(model)},
    "StackSections": hybrid_infra.StackSpec,
}


def typed_dicts(module: Any) -> list[type]:
    return [item for item in vars(module).values() if typing.is_typeddict(item) and item.__module__ == module.__name__]


def mirrored(arguments: type, model: type[BaseModel]) -> None:
    """The typed arguments have the model's keys, required where the model requires them."""
    assert set(arguments.__annotations__) == set(model.model_fields), arguments.__name__
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert set(arguments.__required_keys__) == required, arguments.__name__  # type: ignore[attr-defined]


def test_the_typed_arguments_mirror_the_models():
    for arguments in typed_dicts(typed):
        mirrored(arguments, MODELS[arguments.__name__])
    for platform in platforms.names():
        section = platforms.section_model(platform)
        args_module = __import__(f"{platforms.REGISTRY[platform].package}.args", fromlist=["args"])
        config_module = sys.modules[section.__module__]
        for arguments in typed_dicts(args_module):
            mirrored(arguments, getattr(config_module, arguments.__name__))


def test_every_registered_platform_has_its_section_in_the_arguments():
    assert set(PlatformSections.__annotations__) == set(platforms.names())
    assert set(PlatformSections.__optional_keys__) == set(platforms.names())  # type: ignore[attr-defined]


def dev_inputs(dev_config: dict[str, Any], secret: Any) -> dict[str, Any]:
    """The dev stack as a program in another language passes it: camelCase keys, the credential a secret."""
    section = dev_config["hybrid-infra:openstack"]
    section["cloudProvider"]["applicationCredentialSecret"] = secret
    for pool in dev_config["hybrid-infra:cluster"]["pools"]:
        # A stack file may spell a taint as kubectl does; the schema has one type for it, an object.
        pool["taints"] = [dict(zip(("key", "value", "effect"), taint.replace("=", ":").split(":"), strict=False)) for taint in pool.get("taints", [])]
    return {
        "cluster": dev_config["hybrid-infra:cluster"],
        "platform": {"openstack": section},
        "workloads": dev_config["hybrid-infra:workloads"],
    }


def cloud_resources(result: Simulation) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in result.resources if r.custom}


def test_hybrid_platform_from_the_provider_builds_what_the_library_builds(provider, schema, dev_config):
    credential = dev_config["hybrid-infra:openstack"]["cloudProvider"]["applicationCredentialSecret"]
    library = simulate(lambda: HybridPlatform("dev", parse_stack_config(dev_config)), stack="dev", config={})
    built: dict[str, Any] = {}

    def program() -> None:
        inputs = dev_inputs(dev_config, pulumi.Output.secret(credential))
        provider.construct("dev", "hybrid-infra:index:HybridPlatform", inputs, pulumi.ResourceOptions())
        built.update(provider.get_state(_last_component(), provider._component_defs["HybridPlatform"]))
        pulumi.export("endpoint", built["endpoint"])
        pulumi.export("nodes", built["nodes"])

    through_provider = simulate(program, stack="dev", config={})
    assert cloud_resources(through_provider) == cloud_resources(library)
    assert through_provider.outputs["endpoint"] == "203.0.113.10"
    assert through_provider.outputs["nodes"][0] == {
        "name": "dev-cp-0",
        "pool": "control-plane",
        "role": "control-plane",
        "address": "10.20.0.3",
        "faultDomain": "az-1",
    }
    # Each node goes on the wire with the schema's property names.
    assert set(through_provider.outputs["nodes"][0]) == set(schema["types"]["hybrid-infra:index:ClusterNode"]["properties"])
    cloud_config = next(r for r in through_provider.of_type("kubernetes:core/v1:Secret") if r.name.endswith("-cloud-config"))
    assert isinstance(cloud_config.inputs["stringData"], Secret)
    assert f"application-credential-secret={credential}" in cloud_config.inputs["stringData"].value["cloud.conf"]


_CONSTRUCTED: list[pulumi.ComponentResource] = []


def _last_component() -> pulumi.ComponentResource:
    return _CONSTRUCTED[-1]


@pytest.fixture(autouse=True)
def remember_constructed(monkeypatch):
    """The provider returns a component's URN; the test keeps the component to read its state."""
    for component in COMPONENTS:
        original = component.__init__

        def init(self, name, args, opts=None, _original=original):
            _original(self, name, args, opts)
            _CONSTRUCTED.append(self)

        monkeypatch.setattr(component, "__init__", init)
    yield
    _CONSTRUCTED.clear()


def test_every_component_builds_from_the_inputs_another_language_gives(provider, dev_config):
    """A cluster, then each add-on and workload on a Kubernetes provider made from its kubeconfig."""
    cluster_inputs = dev_inputs(dev_config, "a-secret")
    cluster = cluster_inputs["cluster"]
    app = {"name": "web", "image": "docker.io/nginxinc/nginx-unprivileged:1.27.4", "port": 8080}
    vm = dev_config["hybrid-infra:workloads"]["virtualMachines"][0]
    states: dict[str, dict[str, Any]] = {}

    def construct(name: str, component: str, inputs: dict[str, Any], opts: pulumi.ResourceOptions) -> dict[str, Any]:
        provider.construct(name, f"hybrid-infra:index:{component}", inputs, opts)
        states[component] = provider.get_state(_last_component(), provider._component_defs[component])
        return states[component]

    def program() -> None:
        built = construct("dev", "KubernetesCluster", {k: cluster_inputs[k] for k in ("cluster", "platform")}, None)
        on_cluster = pulumi.ResourceOptions(providers=[k8s.Provider("dev-k8s", kubeconfig=built["kubeconfig"])])
        construct("dev-pki", "ClusterPki", {"cluster": cluster}, None)
        construct("dev-cni", "Cni", {"cluster": cluster, "apiAddress": built["apiAddress"]}, on_cluster)
        construct("dev-policy", "MetadataPolicy", {"cluster": cluster}, on_cluster)
        for component in ("KubeVirt", "Cdi", "Multus", "SystemUpgrade"):
            construct(f"dev-{component.lower()}", component, {"cluster": cluster}, on_cluster)
        construct("dev-storage", "DefaultStorageClass", {"provisioner": "cinder.csi.openstack.org"}, on_cluster)
        construct("dev-web", "ContainerApp", {"app": app}, on_cluster)
        construct("dev-erp", "VirtualMachine", {"vm": vm, "cluster": cluster, "allowedApps": [app]}, on_cluster)
        pulumi.export("states", {name: state for name, state in states.items() if name != "KubernetesCluster"})

    result = simulate(program, stack="dev", config={})
    assert set(states) == {c.__name__ for c in COMPONENTS} - {"HybridPlatform"}
    provider_urn = next(r.urn for r in result.resources if r.type == "pulumi:providers:kubernetes" and r.name == "dev-k8s")
    # Everything but the cluster's own join-token Secret, which goes through a provider of its own.
    on_provider = [r for r in result.resources if r.type.startswith("kubernetes:") and "KubernetesCluster" not in r.urn]
    assert on_provider and all(r.provider == provider_urn for r in on_provider)
    exported = result.outputs["states"]
    exported = exported.value if isinstance(exported, Secret) else exported  # the PKI's keys make it secret
    assert exported["ContainerApp"] == {"service": "web.default.svc"}
    assert exported["VirtualMachine"] == {"service": "erp.default.svc"}
    assert exported["Cni"] == {"chartVersion": "1.20.2"}
    assert exported["MetadataPolicy"] == {"policies": ["hybrid-infra-deny-metadata"]}
    assert exported["SystemUpgrade"]["plans"] == ["hybrid-infra-control-plane", "hybrid-infra-workers"]


def test_bad_inputs_get_the_stack_files_one_line_messages(provider, dev_config):
    inputs = dev_inputs(dev_config, "a-secret")
    inputs["cluster"]["controlPlane"]["count"] = 2

    def program() -> None:
        provider.construct("dev", "hybrid-infra:index:KubernetesCluster", inputs, None)

    with pytest.raises(InputPropertiesError) as caught:
        simulate(program, stack="dev", config={})
    assert caught.value.errors == [
        {"property_path": "cluster.controlPlane.count", "reason": "2 is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)"}
    ]


def test_bad_inputs_are_one_input_properties_error_naming_every_property(provider, dev_config):
    inputs = dev_inputs(dev_config, "a-secret")
    inputs["cluster"]["controlPlane"]["count"] = 2
    inputs["cluster"]["pools"][0]["size"] = "huge"
    inputs["platform"]["openstack"]["flavors"]["virt"] = ""

    def program() -> None:
        arguments = {key: inputs[key] for key in ("cluster", "platform")}
        provider.construct("dev", "hybrid-infra:index:KubernetesCluster", arguments, None)

    with pytest.raises(InputPropertiesError) as caught:
        simulate(program, stack="dev", config={})
    assert caught.value.errors == [
        {"property_path": "cluster.controlPlane.count", "reason": "2 is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)"},
        {"property_path": "platform.openstack.flavors.virt", "reason": "'' is not allowed; it must not be empty"},
    ]
    assert caught.value.message == "invalid inputs of hybrid-infra:index:KubernetesCluster 'dev'"
    # The platform section valid, the sizes it does not map are named beside the cluster's other problems.
    inputs["platform"]["openstack"]["flavors"]["virt"] = "v1.xlarge.kvm"
    with pytest.raises(InputPropertiesError) as caught:
        simulate(program, stack="dev", config={})
    assert caught.value.errors == [
        {"property_path": "cluster.controlPlane.count", "reason": "2 is not allowed; use 1, 3 or 5 (etcd needs an odd quorum)"},
        {
            "property_path": "cluster.pools[0].size",
            "reason": "'huge' is not allowed; use a size defined in openstack.flavors: large, medium, virt",
        },
    ]


def test_every_bad_argument_of_a_component_is_reported_at_once(provider, dev_config):
    cluster = dev_inputs(dev_config, "a-secret")["cluster"]
    cluster["controlPlane"]["count"] = 2
    vm = {**dev_config["hybrid-infra:workloads"]["virtualMachines"][0], "memory": "1"}
    app = {"name": "Web", "image": "docker.io/nginxinc/nginx-unprivileged:1.27.4", "port": 8080}

    def program() -> None:
        arguments = {"vm": vm, "cluster": cluster, "allowedApps": [app]}
        provider.construct("dev-erp", "hybrid-infra:index:VirtualMachine", arguments, None)

    with pytest.raises(InputPropertiesError) as caught:
        simulate(program, stack="dev", config={})
    assert [error["property_path"] for error in caught.value.errors or []] == [
        "cluster.controlPlane.count",
        "allowedApps[0].name",
        "vm.memory",
    ]


def test_the_plugin_serves_the_provider_that_reports_bad_inputs(monkeypatch):
    import pulumi.provider

    monkeypatch.undo()  # the components as the host analyzes them, not as these tests record them
    served: list[Any] = []
    monkeypatch.setattr(pulumi.provider, "main", lambda provider, args: served.append(provider))
    hybrid_infra.provider.serve()
    (provider,) = served
    assert type(provider) is type(component_provider("0.1.0"))


def test_the_repository_is_a_python_plugin_package_whose_entry_serves_the_components():
    plugin = yaml.safe_load((ROOT / "PulumiPlugin.yaml").read_text())
    assert plugin["runtime"]["name"] == "python"
    assert "-e .[all]" in (ROOT / "requirements.txt").read_text().splitlines()
    entry = (
        "import hybrid_infra.provider as provider, runpy, sys\n"
        "provider.serve = lambda: print('serving', provider.PACKAGE)\n"
        f"runpy.run_path({str(ROOT / '__main__.py')!r}, run_name='__main__')\n"
    )
    served = subprocess.run([sys.executable, "-c", entry], capture_output=True, text=True, timeout=120)
    assert served.stdout == "serving hybrid-infra\n", served.stderr
