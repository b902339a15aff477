"""Add-ons come in order: CNI, then the cloud provider (CSI, StorageClass), then KubeVirt and CDI,
then the VMs; every Kubernetes object waits for the readiness gate through the provider."""

from __future__ import annotations

from functools import cache

import pytest

from hybrid_infra import platforms
from hybrid_infra.offline.plan import Plan, run_plan
from hybrid_infra.offline.simulate import Resource
from tests.conftest import STACKS


@pytest.fixture(scope="module")
def dev() -> Plan:
    return run_plan(STACKS, "dev")


def stage(plan: Plan, type_token: str, name: str | None = None) -> list[Resource]:
    """The Kubernetes objects under the component(s) of ``type_token`` (and ``name``)."""
    roots = {r.urn for r in plan.simulation.resources if r.type == type_token and name in (None, r.name)}
    assert roots, type_token
    parents = {r.urn: r.parent for r in plan.simulation.resources}

    def under(urn: str) -> bool:
        while urn:
            urn = parents.get(urn, "")
            if urn in roots:
                return True
        return False

    return [r for r in plan.simulation.resources if r.custom and r.type.startswith("kubernetes:") and under(r.urn)]


def closure(plan: Plan):
    direct = {r.urn: r.dependencies for r in plan.simulation.resources}

    @cache
    def before(urn: str) -> frozenset[str]:
        found: set[str] = set()
        for dependency in direct.get(urn, []):
            found |= {dependency, *before(dependency)}
        return frozenset(found)

    return before


def assert_after(plan: Plan, later: list[Resource], earlier: list[Resource]) -> None:
    before = closure(plan)
    assert later and earlier
    for resource in later:
        missing = {r.urn for r in earlier} - before(resource.urn)
        assert not missing, f"{resource.urn} does not wait for {sorted(missing)}"


def test_cloud_provider_after_the_cni(dev):
    cni = stage(dev, "hybrid-infra:index:Cni")
    cloud_provider = [
        r for r in dev.simulation.resources
        if r.parent.endswith(f"::{dev.spec.cluster.name}") and r.name == f"{dev.spec.cluster.name}-{dev.spec.platform}"
        and not r.custom and r.type != platforms.infrastructure_class(dev.spec.platform).type_token
    ]
    assert len(cloud_provider) == 1
    assert_after(dev, stage(dev, cloud_provider[0].type), cni)


def test_kubevirt_and_cdi_after_the_cloud_provider_and_its_storage_class(dev):
    storage = stage(dev, "hybrid-infra:index:DefaultStorageClass")
    for component in ("hybrid-infra:index:KubeVirt", "hybrid-infra:index:Cdi"):
        assert_after(dev, stage(dev, component), storage)
        assert_after(dev, stage(dev, component), stage(dev, "hybrid-infra:index:Cni"))


def test_virtual_machines_after_kubevirt_and_cdi(dev):
    operators = stage(dev, "hybrid-infra:index:KubeVirt") + stage(dev, "hybrid-infra:index:Cdi")
    vms = [r for r in stage(dev, "hybrid-infra:index:VirtualMachine") if r.type.endswith(":VirtualMachine")]
    assert_after(dev, vms, operators)


def test_apps_after_the_cni(dev):
    assert_after(dev, stage(dev, "hybrid-infra:index:ContainerApp"), stage(dev, "hybrid-infra:index:Cni"))


def test_every_kubernetes_object_waits_for_the_readiness_gate(dev):
    (gate,) = [r for r in dev.simulation.resources if r.name.endswith("-ready")]
    before = closure(dev)
    providers = {r.urn for r in dev.simulation.resources if r.type == "pulumi:providers:kubernetes"}
    assert providers and all(gate.urn in before(urn) for urn in providers)
    objects = [r for r in dev.simulation.resources if r.type.startswith("kubernetes:")]
    assert objects and all(r.provider in providers for r in objects)


def test_the_metadata_policy_comes_right_after_the_cni_and_before_everything_else(dev):
    cni = stage(dev, "hybrid-infra:index:Cni")
    (policy,) = stage(dev, "hybrid-infra:index:MetadataPolicy")
    assert policy.type == "kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy"
    assert_after(dev, [policy], cni)
    first = {r.urn for r in cni} | {policy.urn}
    # Everything that schedules or serves pods; the join token's Secret only needs the API.
    rest = [
        r for r in dev.simulation.resources
        if r.type.startswith("kubernetes:") and r.custom and r.urn not in first and "-join-token-" not in r.name
    ]
    assert len(rest) > 10
    assert_after(dev, rest, [policy])
