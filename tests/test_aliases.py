"""A stack made through the component provider before its wrappers stopped nesting a copy of themselves
keeps every resource: each URN of the old tree (tests/fixtures/provider-urns-nested.json, recorded from
the provider as it was) is the URN, or an alias, of a resource of the new tree, as the engine resolves
aliases, so ``pulumi up`` replaces nothing.

Regenerate the fixture only from the code that made the stacks to keep: ``PYTHONPATH=. .venv/bin/python
-m tests.test_aliases``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from hybrid_infra.offline import simulate as simulation
from hybrid_infra.offline.simulate import simulate
from hybrid_infra.provider import component_provider
from tests.conftest import ROOT, load_dev_config

FIXTURE = ROOT / "tests" / "fixtures" / "provider-urns-nested.json"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Registered:
    """What a program asked the engine for: a resource, its parent and the aliases it gave."""

    urn: str
    type: str
    name: str
    parent: str
    aliases: list[Any] = field(default_factory=list)


def _inputs(dev_config: dict[str, Any]) -> dict[str, Any]:
    """The dev stack as another language's program gives it."""
    section = dev_config["hybrid-infra:openstack"]
    section["cloudProvider"]["applicationCredentialSecret"] = "a-secret"
    for pool in dev_config["hybrid-infra:cluster"]["pools"]:
        pool["taints"] = [
            dict(zip(("key", "value", "effect"), taint.replace("=", ":").split(":"), strict=False))
            for taint in pool.get("taints", [])
        ]
    return {
        "cluster": dev_config["hybrid-infra:cluster"],
        "platform": {"openstack": section},
        "workloads": dev_config["hybrid-infra:workloads"],
    }


def _platform_program() -> None:
    component_provider("0.1.0").construct("dev", "hybrid-infra:index:HybridPlatform", _inputs(load_dev_config()), None)


def _components_program() -> None:
    """Every other component of the provider, the add-ons and workloads on a Kubernetes provider."""
    provider = component_provider("0.1.0")
    dev_config = load_dev_config()
    inputs = _inputs(dev_config)
    cluster = inputs["cluster"]
    app = {"name": "web", "image": "docker.io/nginxinc/nginx-unprivileged:1.27.4", "port": 8080}
    vm = dev_config["hybrid-infra:workloads"]["virtualMachines"][0]

    def construct(name: str, component: str, given: dict[str, Any], opts: pulumi.ResourceOptions | None) -> None:
        provider.construct(name, f"hybrid-infra:index:{component}", given, opts)

    construct("dev", "KubernetesCluster", {key: inputs[key] for key in ("cluster", "platform")}, None)
    on_cluster = pulumi.ResourceOptions(providers=[k8s.Provider("dev-k8s", kubeconfig="apiVersion: v1\nkind: Config\n")])
    construct("dev-pki", "ClusterPki", {"cluster": cluster}, None)
    construct("dev-cni", "Cni", {"cluster": cluster, "apiAddress": "10.20.0.3"}, on_cluster)
    construct("dev-policy", "MetadataPolicy", {"cluster": cluster}, on_cluster)
    for component in ("KubeVirt", "Cdi", "Multus", "SystemUpgrade"):
        construct(f"dev-{component.lower()}", component, {"cluster": cluster}, on_cluster)
    construct("dev-storage", "DefaultStorageClass", {"provisioner": "cinder.csi.openstack.org"}, on_cluster)
    construct("dev-web", "ContainerApp", {"app": app}, on_cluster)
    construct("dev-erp", "VirtualMachine", {"vm": vm, "cluster": cluster, "allowedApps": [app]}, on_cluster)


PROGRAMS = {"platform": _platform_program, "components": _components_program}


def registered(program: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Registered]:
    """Every resource the program registers, by URN, with the aliases its request carried."""
    seen: dict[str, Registered] = {}
    original = simulation.RecordingMonitor.RegisterResource

    def register(self: simulation.RecordingMonitor, request: Any) -> Any:
        response = original(self, request)
        if request.type != STACK_TYPE:
            seen[response.urn] = Registered(response.urn, request.type, request.name, request.parent, list(request.aliases))
        return response

    monkeypatch.setattr(simulation.RecordingMonitor, "RegisterResource", register)
    simulate(program, stack="dev", config={})
    return seen


def _urn(stack_prefix: str, parent: str, type_: str, name: str) -> str:
    """A URN as the engine makes it: the type qualified by the parent's qualified type."""
    qualified = type_
    if parent:
        parent_type = parent.split("::")[2]
        if parent_type != STACK_TYPE:
            qualified = parent_type + "$" + type_
    return f"{stack_prefix}::{qualified}::{name}"


def alias_urns(resource: Registered, resources: dict[str, Registered]) -> set[str]:
    """The URNs the engine looks up in the old state for ``resource`` besides its own: its alias specs
    resolved (a field left out is the resource's own), and the aliases it inherits from its parent's
    (each of the parent's URNs as its parent, its name renamed with the parent's when it starts with it)."""
    prefix = resource.urn.rsplit("::", 2)[0]
    found: set[str] = set()
    for alias in resource.aliases:
        if alias.urn:
            found.add(alias.urn)
            continue
        spec = alias.spec
        if spec.noParent:
            parent = ""
        elif spec.parentUrn:
            parent = spec.parentUrn
        else:
            parent = resource.parent
        stack = spec.stack or prefix.split(":")[2].split("::")[0]
        project = spec.project or prefix.split("::")[1]
        found.add(_urn(f"urn:pulumi:{stack}::{project}", parent, spec.type or resource.type, spec.name or resource.name))
    parent = resources.get(resource.parent)
    if parent is not None:
        for parent_alias in alias_urns(parent, resources):
            name = resource.name
            if name.startswith(parent.name):
                name = parent_alias.rsplit("::", 1)[1] + name[len(parent.name) :]
            found.add(_urn(prefix, parent_alias, resource.type, name))
    return found


def record() -> dict[str, list[str]]:
    """The URNs of each program's resources under the current code."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return {name: sorted(registered(program, monkeypatch)) for name, program in PROGRAMS.items()}


@pytest.fixture(scope="module")
def old_urns() -> dict[str, list[str]]:
    recorded: dict[str, list[str]] = json.loads(FIXTURE.read_text())
    return recorded


@pytest.fixture(params=sorted(PROGRAMS))
def program(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def matched(resources: dict[str, Registered], old: set[str]) -> dict[str, str]:
    """Old URN -> the new resource that takes it, as the engine matches them: its own URN first, then
    its aliases; an old resource two new ones would take is an error of the engine's."""
    taken: dict[str, str] = {}
    for urn, resource in resources.items():
        aliases = sorted(alias_urns(resource, resources) - {urn})
        found = next((candidate for candidate in [urn, *aliases] if candidate in old), None)
        if found is not None:
            assert found not in taken, f"{found} is taken by {taken[found]} and {urn}"
            taken[found] = urn
    return taken


def _copy_of_its_parent(urn: str) -> bool:
    """A component nested in a component of its own type and name: what the provider's classes made."""
    types = urn.split("::")[2].split("$")
    return len(types) > 1 and types[-1] == types[-2] and types[-1].startswith("hybrid-infra:index:")


def test_the_engine_finds_every_resource_of_an_old_stack_and_deletes_only_the_nested_copies(
    program, old_urns, monkeypatch
):
    resources = registered(PROGRAMS[program], monkeypatch)
    old = set(old_urns[program])
    taken = matched(resources, old)
    created = sorted(set(resources) - set(taken.values()))
    deleted = sorted(old - set(taken))
    # No resource is new: each takes the old one it was (Kubernetes objects, cloud resources, keys).
    assert not created, created[:5]
    # Only the copies go: components with nothing of their own (each was its wrapper's only child).
    assert deleted and all(_copy_of_its_parent(urn) for urn in deleted), [u for u in deleted if not _copy_of_its_parent(u)][:5]
    # Nothing nests in a copy of itself any more.
    assert not [urn for urn in resources if _copy_of_its_parent(urn)]


def test_without_aliases_the_engine_would_replace_them(old_urns, monkeypatch):
    """The check above sees what the aliases do: with none, every resource under a component is new."""
    import hybrid_infra.provider as provider

    monkeypatch.setattr(provider, "_in_its_place", lambda name, token, opts: opts)
    resources = registered(_components_program, monkeypatch)
    taken = matched(resources, set(old_urns["components"]))
    created = set(resources) - set(taken.values())
    assert any(urn.endswith("::dev-kubevirt-kubevirt") for urn in created)


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(record(), indent=1) + "\n")
    sys.stdout.write(f"{FIXTURE}: {sum(len(urns) for urns in json.loads(FIXTURE.read_text()).values())} URNs\n")
