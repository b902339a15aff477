"""Volume snapshots: the pinned external-snapshotter files, the snapshot controller, each platform's
VolumeSnapshotClass checked against the CRD of the pinned release, and the Snapshots section of
docs/virtual-machines.md checked against KubeVirt's API."""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hybrid_infra.addons.snapshots import CONTROLLER_IMAGE, MANIFEST_IMAGE_TAG, adjust_controller
from hybrid_infra.addons.storage import CLONE_STRATEGY_ANNOTATION, volume_snapshot_class
from hybrid_infra.config import ConfigError
from hybrid_infra.config.addons import (
    ADDON_PINS,
    EXTERNAL_SNAPSHOTTER_VERSION,
    SNAPSHOT_FILES,
    AddonsSpec,
    VolumeSnapshotsSpec,
)
from hybrid_infra.offline.plan import Plan, Redactor, load_stack, manifests, run_plan
from hybrid_infra.offline.simulate import Resource
from hybrid_infra.platforms.aws.cloud_provider import ebs_csi_values
from hybrid_infra.stack import parse_stack_config
from tests.conftest import ROOT, STACKS, load_dev_config, write_stack
from tests.openapi import KUBEVIRT_SCHEMA, check_openapi

SCHEMAS = ROOT / "tests" / "schemas"
RELEASE_FILES = {
    "volume_snapshot_classes": "external-snapshotter-v8.5.0-volumesnapshotclasses-crd.yaml",
    "volume_snapshot_contents": "external-snapshotter-v8.5.0-volumesnapshotcontents-crd.yaml",
    "volume_snapshots": "external-snapshotter-v8.5.0-volumesnapshots-crd.yaml",
    "rbac": "external-snapshotter-v8.5.0-rbac-snapshot-controller.yaml",
    "controller": "external-snapshotter-v8.5.0-setup-snapshot-controller.yaml",
}
"""The release's files as copied into tests/schemas (tests/schemas/README.md), by their field."""
SNAPSHOT_KEYS = {
    "volume_snapshot_classes": "volumeSnapshotClasses",
    "volume_snapshot_contents": "volumeSnapshotContents",
    "volume_snapshots": "volumeSnapshots",
    "rbac": "rbac",
    "controller": "controller",
}
"""Each field's key under addons.volumeSnapshots.manifests."""
CLASS_CRD = SCHEMAS / RELEASE_FILES["volume_snapshot_classes"]
SNAPSHOT_CLASS_TYPE = "kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass"
DRIVERS = {
    "dev": ("cinder.csi.openstack.org", {"force-create": "true"}),
    "prod": ("csi.vsphere.vmware.com", None),
    "aws": ("ebs.csi.aws.com", None),
}


def strict(schema: Any) -> Any:
    """A CRD schema that refuses fields it does not name, as the API server prunes them."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema and not schema.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(item) for item in schema]
    return schema


def crd_schema(path: Path, version: str = "v1") -> dict[str, Any]:
    (crd,) = [document for document in yaml.safe_load_all(path.read_text()) if document]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert served["served"] and served["storage"]
    return strict(served["schema"]["openAPIV3Schema"])


def check_crd(document: dict[str, Any], path: Path) -> None:
    errors = sorted(jsonschema.Draft7Validator(crd_schema(path)).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def of_type(plan: Plan, type_token: str) -> list[Resource]:
    return [r for r in plan.simulation.resources if r.type == type_token]


# --- the pinned release -------------------------------------------------------------------------


def test_the_copied_release_files_are_the_pinned_bytes():
    assert set(RELEASE_FILES) == set(SNAPSHOT_FILES)
    for field, (path, digest) in SNAPSHOT_FILES.items():
        copied = SCHEMAS / RELEASE_FILES[field]
        assert hashlib.sha256(copied.read_bytes()).hexdigest() == digest, field
        assert path.rsplit("/", 1)[-1].removeprefix("snapshot.storage.k8s.io_").removesuffix(".yaml") in copied.name, field


def test_the_crds_are_the_snapshot_api_the_controller_and_kubevirt_use():
    names = {}
    for field in ("volume_snapshot_classes", "volume_snapshot_contents", "volume_snapshots"):
        (crd,) = [d for d in yaml.safe_load_all((SCHEMAS / RELEASE_FILES[field]).read_text()) if d]
        assert crd["spec"]["group"] == "snapshot.storage.k8s.io"
        names[crd["spec"]["names"]["kind"]] = crd["spec"]["scope"]
        crd_schema(SCHEMAS / RELEASE_FILES[field])  # v1 is served and stored
    assert names == {"VolumeSnapshotClass": "Cluster", "VolumeSnapshotContent": "Cluster", "VolumeSnapshot": "Namespaced"}


def test_default_sources_are_the_release_files_at_the_pinned_tag_with_their_digests():
    settings = VolumeSnapshotsSpec()
    assert settings.version == EXTERNAL_SNAPSHOTTER_VERSION == ADDON_PINS["volumeSnapshots"].version == "v8.5.0"
    for field, (path, digest) in SNAPSHOT_FILES.items():
        source, url, key = settings.manifest(field)
        assert url == f"https://raw.githubusercontent.com/kubernetes-csi/external-snapshotter/v8.5.0/{path}"
        assert (source.url, source.file, source.sha256) == (None, None, digest)
        assert key == f"addons.volumeSnapshots.manifests.{SNAPSHOT_KEYS[field]}"
    # Another release: the digests computed here are not its own.
    other = VolumeSnapshotsSpec(version="v8.6.0")
    source, url, _ = other.manifest("rbac")
    assert source.sha256 is None and "/v8.6.0/" in url


def test_a_mirror_without_its_digest_is_refused(dev_config):
    dev_config["hybrid-infra:addons"] = {
        "volumeSnapshots": {"manifests": {"volumeSnapshots": {"url": "https://mirror.example.com/vs.yaml"}}}
    }
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_config)
    assert caught.value.problems == [
        "addons.volumeSnapshots.manifests.volumeSnapshots.sha256: missing; a manifest from a custom url must be pinned by its sha256"
    ]


@pytest.mark.parametrize(
    ("given", "virtualization", "expected"),
    [(None, True, True), (None, False, False), (False, True, False), (True, False, True)],
)
def test_snapshots_are_on_where_kubevirt_runs_unless_the_stack_says(given, virtualization, expected):
    addons = AddonsSpec.model_validate({"volumeSnapshots": {"enabled": given}} if given is not None else {})
    assert addons.for_cluster(virtualization).volume_snapshots.enabled is expected
    assert addons.volume_snapshots.enabled is given  # the section itself is left as given


# --- the controller -------------------------------------------------------------------------------


def release_objects(field: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((SCHEMAS / RELEASE_FILES[field]).read_text()) if d]


def test_the_controller_runs_its_release_off_the_virtualization_pools():
    (deployment,) = release_objects("controller")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # The tag's own file names the release before it, which the add-on replaces.
    assert container["image"] == f"{CONTROLLER_IMAGE}:{MANIFEST_IMAGE_TAG}" != f"{CONTROLLER_IMAGE}:v8.5.0"
    cluster = parse_stack_config(load_dev_config()).cluster
    adjusted = adjust_controller(cluster, "v8.5.0")(deployment)
    assert adjusted is not deployment and container["image"].endswith(MANIFEST_IMAGE_TAG)  # the input is left alone
    pod = adjusted["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.k8s.io/sig-storage/snapshot-controller:v8.5.0"
    term = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term == [{"matchExpressions": [{"key": "hybrid-infra.io/pool", "operator": "NotIn", "values": ["virt"]}]}]
    assert pod["serviceAccountName"] == "snapshot-controller"
    # Everything else of the release as it is.
    for item in release_objects("rbac"):
        assert adjust_controller(cluster, "v8.5.0")(item) == item


def test_without_virtualization_pools_the_controller_may_run_on_any_worker():
    config = load_dev_config()
    config["hybrid-infra:cluster"]["pools"] = [p for p in config["hybrid-infra:cluster"]["pools"] if not p.get("virtualization")]
    config["hybrid-infra:workloads"].pop("virtualMachines")
    (deployment,) = release_objects("controller")
    adjusted = adjust_controller(parse_stack_config(config).cluster, "v8.5.0")(deployment)
    assert "affinity" not in adjusted["spec"]["template"]["spec"]  # NotIn [] is not a valid selector


# --- each platform's VolumeSnapshotClass --------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(DRIVERS))
def stack_plan(request, tmp_path_factory) -> tuple[str, Plan]:
    """Each platform's stack with the release files expanded from local copies, as ``pulumi up`` expands
    them from their URLs (offline, a URL is only recorded, and the CRDs have no object to wait for)."""
    stack = request.param
    directory = tmp_path_factory.mktemp(stack)
    config = with_release_files(directory, copy.deepcopy(load_stack(STACKS, stack).values))
    write_stack(directory / "stacks", stack, config)
    return stack, run_plan(directory / "stacks", stack)


def test_each_platform_has_a_default_retained_snapshot_class_of_its_csi_driver(stack_plan):
    stack, plan = stack_plan
    driver, parameters = DRIVERS[stack]
    (snapshot_class,) = of_type(plan, SNAPSHOT_CLASS_TYPE)
    documents = manifests(plan, Redactor(plan.simulation, show_secrets=False))
    document = documents["volumesnapshotclass-cluster-standard.yaml"]
    # Its fields beside metadata, where the CRD has them, not under a spec.
    assert "spec" not in document and document == snapshot_class.inputs
    assert document["driver"] == driver
    assert document["deletionPolicy"] == "Retain"
    assert document.get("parameters") == parameters
    assert document["metadata"] == {
        "name": "standard",
        "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"},
    }
    check_crd(document, CLASS_CRD)
    storage_class = documents["storageclass-cluster-standard.yaml"]
    assert storage_class["provisioner"] == driver
    assert storage_class["metadata"]["annotations"][CLONE_STRATEGY_ANNOTATION] == "copy"


def descendants(plan: Plan, urn: str) -> list[Resource]:
    parents = {r.urn: r.parent for r in plan.simulation.resources}

    def under(child: str) -> bool:
        while child:
            child = parents.get(child, "")
            if child == urn:
                return True
        return False

    return [r for r in plan.simulation.resources if under(r.urn)]


def snapshot_crds(plan: Plan) -> set[str]:
    return {
        r.urn for r in of_type(plan, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
        if r.inputs["spec"]["group"] == "snapshot.storage.k8s.io"
    }


def test_the_snapshot_class_waits_for_the_crds_and_the_csi_driver_alone(stack_plan):
    _, plan = stack_plan
    (snapshot_class,) = of_type(plan, SNAPSHOT_CLASS_TYPE)
    crds = snapshot_crds(plan)
    assert len(crds) == 3 and crds <= set(snapshot_class.dependencies)
    # The StorageClass, and all else of the cloud provider, as before snapshots.
    storage_classes = of_type(plan, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert len(storage_classes) == 2  # the default class and the VM disks' class
    for storage_class in storage_classes:
        assert set(storage_class.dependencies) <= set(snapshot_class.dependencies)
    (cloud_provider,) = [r for r in plan.simulation.resources if r.type.endswith("CloudProvider")]
    others = [r for r in descendants(plan, cloud_provider.urn) if r.custom and r.urn != snapshot_class.urn]
    assert len(others) >= 3 and not [r.name for r in others if crds & set(r.dependencies)]


def test_the_ebs_chart_runs_its_snapshot_sidecar_with_snapshots():
    plan = run_plan(STACKS, "aws")
    (release,) = [r for r in of_type(plan, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "aws-ebs-csi-driver"]
    assert release.inputs["values"]["sidecars"] == {"snapshotter": {"forceEnable": True}}
    cluster = plan.spec.cluster
    assert "sidecars" not in ebs_csi_values(cluster, "us-east-1")


def test_delete_policy_lets_cdi_clone_through_snapshots(tmp_path, dev_config):
    dev_config["hybrid-infra:addons"] = {"volumeSnapshots": {"deletionPolicy": "Delete"}}
    write_stack(tmp_path / "stacks", "dev", dev_config)
    plan = run_plan(tmp_path / "stacks", "dev")
    (snapshot_class,) = of_type(plan, SNAPSHOT_CLASS_TYPE)
    assert snapshot_class.inputs["deletionPolicy"] == "Delete"
    check_crd(snapshot_class.inputs, CLASS_CRD)
    for storage_class in of_type(plan, "kubernetes:storage.k8s.io/v1:StorageClass"):
        assert CLONE_STRATEGY_ANNOTATION not in (storage_class.inputs["metadata"].get("annotations") or {})


def test_a_bad_deletion_policy_is_refused(dev_config):
    dev_config["hybrid-infra:addons"] = {"volumeSnapshots": {"deletionPolicy": "Keep"}}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_config)
    assert caught.value.problems[0].startswith(
        "addons.volumeSnapshots.deletionPolicy: 'Keep' is not allowed; use one of 'Retain' or 'Delete'"
    )


def no_virtualization(config: dict[str, Any]) -> dict[str, Any]:
    config["hybrid-infra:cluster"]["pools"] = [p for p in config["hybrid-infra:cluster"]["pools"] if not p.get("virtualization")]
    config["hybrid-infra:workloads"].pop("virtualMachines")
    return config


def snapshot_objects(plan: Plan) -> list[str]:
    """What of volume snapshots the plan creates: the class, the CRDs and the controller's objects."""
    return [
        r.name
        for r in plan.simulation.resources
        if r.type == SNAPSHOT_CLASS_TYPE or "-snapshot-crds-" in r.name or "-snapshot-controller-" in r.name
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["hybrid-infra:addons"]["volumeSnapshots"].update(enabled=False),
        no_virtualization,
    ],
    ids=["turned-off", "no-virtualization"],
)
def test_without_snapshots_nothing_of_them_is_created(tmp_path, dev_config, change):
    # The release files from local copies: the plan would show their objects.
    change(with_release_files(tmp_path, dev_config))
    write_stack(tmp_path / "stacks", "dev", dev_config)
    plan = run_plan(tmp_path / "stacks", "dev")
    assert snapshot_objects(plan) == []
    assert not [a.key for a in plan.artifacts if a.key.startswith("addons.volumeSnapshots.")]
    for storage_class in of_type(plan, "kubernetes:storage.k8s.io/v1:StorageClass"):
        assert CLONE_STRATEGY_ANNOTATION not in (storage_class.inputs["metadata"].get("annotations") or {})


def test_snapshots_without_kubevirt_when_the_stack_asks(tmp_path, dev_config):
    with_release_files(tmp_path, no_virtualization(dev_config))["hybrid-infra:addons"]["volumeSnapshots"]["enabled"] = True
    write_stack(tmp_path / "stacks", "dev", dev_config)
    plan = run_plan(tmp_path / "stacks", "dev")
    assert len(of_type(plan, SNAPSHOT_CLASS_TYPE)) == 1 and len(snapshot_crds(plan)) == 3
    assert not of_type(plan, "kubernetes:kubevirt.io/v1:KubeVirt")


# --- the release files expanded ----------------------------------------------------------------------


def with_release_files(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The stack with each release file given as a local copy, pinned by its digest: the plan expands them."""
    (tmp_path / "snapshots").mkdir(exist_ok=True)
    sources = {}
    for field, name in RELEASE_FILES.items():
        shutil.copy(SCHEMAS / name, tmp_path / "snapshots" / name)
        sources[SNAPSHOT_KEYS[field]] = {"file": f"snapshots/{name}", "sha256": SNAPSHOT_FILES[field][1]}
    config.setdefault("hybrid-infra:addons", {})["volumeSnapshots"] = {"manifests": sources}
    return config


def test_the_release_files_expand_to_the_crds_and_the_controller(tmp_path, dev_config):
    write_stack(tmp_path / "stacks", "dev", with_release_files(tmp_path, dev_config))
    plan = run_plan(tmp_path / "stacks", "dev")
    crds = of_type(plan, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    assert {r.inputs["metadata"]["name"] for r in crds} >= {
        "volumesnapshotclasses.snapshot.storage.k8s.io",
        "volumesnapshotcontents.snapshot.storage.k8s.io",
        "volumesnapshots.snapshot.storage.k8s.io",
    }
    (deployment,) = [r for r in of_type(plan, "kubernetes:apps/v1:Deployment") if r.inputs["metadata"]["name"] == "snapshot-controller"]
    assert deployment.inputs["metadata"]["namespace"] == "kube-system"
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v8.5.0")
    account = [r for r in of_type(plan, "kubernetes:core/v1:ServiceAccount") if r.inputs["metadata"]["name"] == "snapshot-controller"]
    assert len(account) == 1 and account[0].urn in deployment.dependencies
    artifacts = {a.name: a for a in plan.artifacts if a.key.startswith("addons.volumeSnapshots.")}
    assert set(artifacts) == {
        "snapshot-crd-volumesnapshotclasses",
        "snapshot-crd-volumesnapshotcontents",
        "snapshot-crd-volumesnapshots",
        "snapshot-controller-rbac",
        "snapshot-controller",
    }
    assert all(a.objects and a.version == "v8.5.0" for a in artifacts.values())
    # Nothing of it lengthens the way to KubeVirt Available: it comes up beside the cloud provider.
    assert plan.time_to_ready.seconds == run_plan(STACKS, "dev").time_to_ready.seconds


def test_a_release_file_that_is_not_the_pinned_one_is_refused(tmp_path, dev_config):
    config = with_release_files(tmp_path, dev_config)
    copied = tmp_path / "snapshots" / RELEASE_FILES["controller"]
    copied.write_text(copied.read_text().replace("replicas: 2", "replicas: 1"))
    write_stack(tmp_path / "stacks", "dev", config)
    with pytest.raises(ConfigError) as caught:
        run_plan(tmp_path / "stacks", "dev")
    assert caught.value.problems[0].startswith("addons.volumeSnapshots.manifests.controller.sha256: ")


def test_offline_the_release_files_are_recorded_as_pinned_sources():
    plan = run_plan(STACKS, "dev")
    artifacts = [a for a in plan.artifacts if a.key.startswith("addons.volumeSnapshots.")]
    assert len(artifacts) == 5
    for artifact in artifacts:
        assert artifact.objects is None and artifact.file is None  # recorded, not fetched
        field = next(f for f in SNAPSHOT_FILES if artifact.key.endswith("." + SNAPSHOT_KEYS[f]))
        path, digest = SNAPSHOT_FILES[field]
        assert (artifact.url, artifact.pinned_sha256, artifact.version) == (
            f"https://raw.githubusercontent.com/kubernetes-csi/external-snapshotter/v8.5.0/{path}",
            digest,
            "v8.5.0",
        )


# --- docs/virtual-machines.md, "Snapshots" -------------------------------------------------------------


def snapshot_docs() -> str:
    text = (ROOT / "docs" / "virtual-machines.md").read_text()
    section = text.split("\n## Snapshots\n", 1)
    assert len(section) == 2, "docs/virtual-machines.md has no Snapshots section"
    return section[1].split("\n## ", 1)[0]


def documented_objects() -> list[dict[str, Any]]:
    blocks = re.findall(r"^```yaml\n(.*?)^```$", snapshot_docs(), re.S | re.M)
    return [document for block in blocks for document in yaml.safe_load_all(block) if document]


def test_the_documented_snapshot_and_restore_are_valid_kubevirt_objects():
    objects = {document["kind"]: document for document in documented_objects()}
    assert set(objects) == {"VirtualMachineSnapshot", "VirtualMachineRestore"}
    snapshot, restore = objects["VirtualMachineSnapshot"], objects["VirtualMachineRestore"]
    for document in (snapshot, restore):
        # snapshot.kubevirt.io v1beta1 is the stored version at v1.9.0 (pkg/virt-operator/resource/generate/components/crds.go).
        assert document["apiVersion"] == "snapshot.kubevirt.io/v1beta1"
        check_openapi(document, KUBEVIRT_SCHEMA, f"v1beta1.{document['kind']}")
    assert snapshot["spec"]["source"] == {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "erp"}
    assert restore["spec"]["target"] == snapshot["spec"]["source"]
    assert restore["spec"]["virtualMachineSnapshotName"] == snapshot["metadata"]["name"]
    assert restore["metadata"]["namespace"] == snapshot["metadata"]["namespace"]
    # The values types.go at v1.9.0 defines (staging/src/kubevirt.io/api/snapshot/v1beta1).
    assert restore["spec"]["targetReadinessPolicy"] in {"StopTarget", "WaitGracePeriod", "FailImmediate", "WaitEventually"}
    assert restore["spec"]["volumeRestorePolicy"] in {"RandomizeNames", "InPlace", "PrefixTargetName"}
    # The VM the examples name is the one the dev stack runs.
    assert snapshot["spec"]["source"]["name"] in {vm["name"] for vm in load_dev_config()["hybrid-infra:workloads"]["virtualMachines"]}


def test_a_snapshot_with_an_unknown_field_is_refused():
    (snapshot,) = [d for d in documented_objects() if d["kind"] == "VirtualMachineSnapshot"]
    wrong = copy.deepcopy(snapshot)
    wrong["spec"]["sourceName"] = "erp"
    with pytest.raises(AssertionError):
        check_openapi(wrong, KUBEVIRT_SCHEMA, "v1beta1.VirtualMachineSnapshot")


def test_a_snapshot_class_under_a_spec_is_refused():
    document = volume_snapshot_class("standard", "ebs.csi.aws.com", "Retain", {})
    check_crd(document, CLASS_CRD)
    nested = {key: value for key, value in document.items() if key not in ("driver", "deletionPolicy")}
    nested["spec"] = {"driver": document["driver"], "deletionPolicy": document["deletionPolicy"]}
    with pytest.raises(AssertionError):
        check_crd(nested, CLASS_CRD)
    with pytest.raises(AssertionError):
        check_crd({**document, "deletionPolicy": "Keep"}, CLASS_CRD)


def test_the_docs_name_each_platforms_driver_the_policy_and_the_pinned_version():
    text = snapshot_docs()
    for driver, _ in DRIVERS.values():
        assert f"`{driver}`" in text, driver
    assert "v8.5.0" in text and "`Retain`" in text and "cdi.kubevirt.io/clone-strategy: copy" in text
    assert "addons.volumeSnapshots.deletionPolicy" in text
