"""Add-ons come in order: CNI, then the cloud provider (CSI, StorageClass), then KubeVirt and CDI,
then the VMs; every Kubernetes object waits for the readiness gate through the provider. The snapshot
CRDs and controller come after the CNI, beside the cloud provider, whose VolumeSnapshotClass alone waits
for the CRDs, and before KubeVirt and CDI."""

from __future__ import annotations

from functools import cache

import pytest

from hybrid_infra import platforms
from hybrid_infra.offline.plan import Plan, run_plan
from hybrid_infra.offline.simulate import Resource
from tests.conftest import STACKS, load_dev_config, write_stack


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


@pytest.fixture(scope="module")
def dev_expanded(tmp_path_factory) -> Plan:
    """dev with the snapshot release files from local copies: expanded, as `pulumi up` expands their URLs."""
    from tests.test_snapshots import with_release_files

    directory = tmp_path_factory.mktemp("snapshots")
    write_stack(directory / "stacks", "dev", with_release_files(directory, load_dev_config()))
    return run_plan(directory / "stacks", "dev")


def snapshot_stage(plan: Plan, part: str) -> list[Resource]:
    """The objects of the snapshot add-on's CRDs (``crds``) or controller (``controller``), children of the platform."""
    return [r for r in plan.simulation.resources if r.custom and r.name.startswith(f"{plan.spec.cluster.name}-snapshot-{part}-")]


def snapshot_class(plan: Plan) -> list[Resource]:
    return [r for r in plan.simulation.resources if r.type == "kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass"]


def test_snapshot_crds_then_their_controller_after_the_cni(dev_expanded):
    crds = snapshot_stage(dev_expanded, "crds")
    assert {r.type for r in crds} == {"kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"} and len(crds) == 3
    assert_after(dev_expanded, crds, stage(dev_expanded, "hybrid-infra:index:Cni"))
    controller = snapshot_stage(dev_expanded, "controller")
    assert_after(dev_expanded, controller, crds)
    # Its pods run as the release's service account: the roles first.
    deployment = [r for r in controller if r.type == "kubernetes:apps/v1:Deployment"]
    assert len(deployment) == 1
    assert_after(dev_expanded, deployment, [r for r in controller if r.type != "kubernetes:apps/v1:Deployment"])


def test_the_snapshot_class_after_its_crds_and_the_csi_driver(dev_expanded):
    (created,) = snapshot_class(dev_expanded)
    assert_after(dev_expanded, [created], snapshot_stage(dev_expanded, "crds"))
    csi = [r for r in dev_expanded.simulation.resources if r.name == f"{dev_expanded.spec.cluster.name}-openstack-cinder-csi"]
    assert_after(dev_expanded, [created], csi)


def test_the_cloud_provider_does_not_wait_for_the_snapshot_add_on(dev_expanded):
    before = closure(dev_expanded)
    snapshots = {r.urn for part in ("crds", "controller") for r in snapshot_stage(dev_expanded, part)}
    (created,) = snapshot_class(dev_expanded)
    cloud_provider = [r for r in stage(dev_expanded, "hybrid-infra:index:OpenStackCloudProvider") if r.urn != created.urn]
    assert len(cloud_provider) >= 3
    assert not [r.name for r in cloud_provider if snapshots & before(r.urn)]


def test_kubevirt_and_cdi_after_the_snapshot_crds_controller_and_class(dev_expanded):
    snapshots = [*snapshot_stage(dev_expanded, "crds"), *snapshot_stage(dev_expanded, "controller"), *snapshot_class(dev_expanded)]
    for component in ("hybrid-infra:index:KubeVirt", "hybrid-infra:index:Cdi"):
        assert_after(dev_expanded, stage(dev_expanded, component), snapshots)
