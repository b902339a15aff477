"""KubeVirt, CDI and the workloads: the objects, their schemas, their order and their bad arguments."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_infra.config import ConfigError
from hybrid_infra.offline.plan import Redactor, run_plan
from hybrid_infra.offline.simulate import Simulation, simulate
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.workloads import VirtualMachine
from tests.conftest import STACKS, secret_keys, write_stack
from tests.openapi import CDI_SCHEMA, KUBEVIRT_SCHEMA, check_openapi

CUSTOM_RESOURCE = "kubernetes:{}"

OPERATOR_FIXTURE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: kubevirt
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: kubevirts.kubevirt.io
spec:
  group: kubevirt.io
  names: {kind: KubeVirt, plural: kubevirts, singular: kubevirt}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: kubevirt-operator, namespace: kubevirt}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: "kubevirt.io:operator"}
  rules:
  - apiGroups: [kubevirt.io]
    resources: [kubevirts]
    verbs: [get, list, watch]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: virt-operator
  namespace: kubevirt
spec:
  replicas: 2
  selector: {matchLabels: {kubevirt.io: virt-operator}}
  template:
    metadata: {labels: {kubevirt.io: virt-operator}}
    spec:
      serviceAccountName: kubevirt-operator
      containers:
      - name: virt-operator
        image: quay.io/kubevirt/virt-operator:v1.9.0
"""


@pytest.fixture(scope="module")
def dev_manifests(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plan") / "dev"
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "dev", "--stacks", str(STACKS), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out / "manifests"


def manifest(directory: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((directory / name).read_text())


def test_kubevirt_resource(dev_manifests):
    kubevirt = manifest(dev_manifests, "kubevirt-kubevirt-kubevirt.yaml")
    spec = kubevirt["spec"]
    workloads = spec["workloads"]["nodePlacement"]
    term = workloads["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term == [{"matchExpressions": [{"key": "hybrid-infra.io/pool", "operator": "In", "values": ["virt"]}]}]
    assert workloads["tolerations"] == [
        {"key": "hybrid-infra.io/virtualization", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    infra = spec["infra"]["nodePlacement"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert infra["nodeSelectorTerms"][0]["matchExpressions"][0]["operator"] == "NotIn"
    assert spec["configuration"]["network"] == {
        "defaultNetworkInterface": "masquerade",
        "permitBridgeInterfaceOnPodNetwork": False,
    }
    assert "useEmulation" not in spec["configuration"]["developerConfiguration"]
    assert spec["uninstallStrategy"] == "BlockUninstallIfWorkloadsExist"
    assert spec["workloadUpdateStrategy"] == {"workloadUpdateMethods": []}
    # Available once every image of the release is pulled on the nodes: longer than the provider's 10 minutes.
    assert kubevirt["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Available", "pulumi.com/timeoutSeconds": "1800"}
    check_openapi(kubevirt, KUBEVIRT_SCHEMA, "v1.KubeVirt")


def test_cdi_resource(dev_manifests):
    cdi = manifest(dev_manifests, "cdi-cluster-cdi.yaml")
    assert cdi["apiVersion"] == "cdi.kubevirt.io/v1beta1"
    assert cdi["spec"]["workload"]["tolerations"][0]["key"] == "hybrid-infra.io/virtualization"
    assert cdi["spec"]["config"]["featureGates"] == ["HonorWaitForFirstConsumer"]
    assert cdi["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Available", "pulumi.com/timeoutSeconds": "1800"}
    check_openapi(cdi, CDI_SCHEMA, "v1beta1.CDI")


def test_erp_virtual_machine_imports_its_disk(dev_manifests):
    vm = manifest(dev_manifests, "virtualmachine-default-erp.yaml")
    disk = manifest(dev_manifests, "datavolume-default-erp-disk.yaml")
    assert "dataVolumeTemplates" not in vm["spec"]
    assert disk["spec"]["source"] == {"http": {"url": "https://images.example.com/legacy/erp-2019.qcow2"}}
    assert disk["spec"]["storage"]["resources"]["requests"]["storage"] == "40Gi"
    domain = vm["spec"]["template"]["spec"]["domain"]
    assert domain["cpu"] == {"cores": 2} and domain["resources"]["requests"] == {"memory": "8Gi", "cpu": "2000m"}
    assert domain["devices"]["interfaces"][0]["masquerade"] == {}
    volumes = {v["name"]: v for v in vm["spec"]["template"]["spec"]["volumes"]}
    assert volumes["disk"]["dataVolume"]["name"] == disk["metadata"]["name"] == "erp-disk"
    assert volumes["cloudinit"]["cloudInitNoCloud"]["secretRef"]["name"] == "erp-cloud-init"
    check_openapi(vm, KUBEVIRT_SCHEMA, "v1.VirtualMachine")
    check_openapi(disk, CDI_SCHEMA, "v1beta1.DataVolume")


def test_services_select_the_web_pods_and_the_vm_launcher(dev_manifests):
    web, erp = manifest(dev_manifests, "service-default-web.yaml"), manifest(dev_manifests, "service-default-erp.yaml")
    deployment = manifest(dev_manifests, "deployment-default-web.yaml")
    vm = manifest(dev_manifests, "virtualmachine-default-erp.yaml")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    launcher_labels = vm["spec"]["template"]["metadata"]["labels"]
    assert web["spec"]["selector"].items() <= pod_labels.items()
    assert erp["spec"]["selector"].items() <= launcher_labels.items()
    assert not erp["spec"]["selector"].items() <= pod_labels.items()
    assert erp["spec"]["ports"] == [{"name": "erp-https", "port": 8443, "targetPort": 8443, "protocol": "TCP"}]


def test_only_web_pods_reach_the_vm(dev_manifests):
    policy = manifest(dev_manifests, "networkpolicy-default-erp-ingress.yaml")
    web_labels = manifest(dev_manifests, "deployment-default-web.yaml")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "erp"}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rule, virt_api = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8443, "protocol": "TCP"}]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"].items() <= web_labels.items()
    # virtctl ssh and port-forward connect through KubeVirt's virt-api, on any port.
    assert virt_api == {
        "from": [
            {
                "podSelector": {"matchLabels": {"kubevirt.io": "virt-api"}},
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kubevirt"}},
            }
        ]
    }


def test_url_sources_are_pinned_not_fetched_offline(dev_manifests):
    pinned = manifest(dev_manifests, "operator-kubevirt.pinned.yaml")["pinnedManifest"]
    assert pinned == {
        "component": "kubevirt",
        "version": "v1.9.0",
        "url": "https://github.com/kubevirt/kubevirt/releases/download/v1.9.0/kubevirt-operator.yaml",
        "expanded": False,
    }
    assert manifest(dev_manifests, "operator-cdi.pinned.yaml")["pinnedManifest"]["version"] == "v1.66.0"


# --- manifest expansion and ordering --------------------------------------------------------


def plan_with(tmp_path: Path, config: dict[str, Any]) -> Simulation:
    write_stack(tmp_path / "stacks", "test", config)
    return run_plan(tmp_path / "stacks", "test").simulation


def with_operator_file(tmp_path: Path, config: dict[str, Any], sha256: str | None = None) -> dict[str, Any]:
    (tmp_path / "kubevirt-operator.yaml").write_text(OPERATOR_FIXTURE)
    source: dict[str, Any] = {"file": "kubevirt-operator.yaml"}
    if sha256:
        source["sha256"] = sha256
    config.setdefault("hybrid-infra:addons", {})["kubevirt"] = {"operatorManifest": source}
    return config


def by_name(result: Simulation) -> dict[str, Any]:
    return {resource.name: resource for resource in result.resources}


def test_a_local_operator_manifest_is_expanded_in_order(tmp_path, dev_config):
    digest = hashlib.sha256(OPERATOR_FIXTURE.encode()).hexdigest()
    result = plan_with(tmp_path, with_operator_file(tmp_path, dev_config, digest))
    resources = by_name(result)
    operator = {
        name: resource for name, resource in resources.items() if name.startswith("dev-kubevirt-operator-")
    }
    assert sorted(operator) == [
        "dev-kubevirt-operator-clusterrole-kubevirt.io:operator",
        "dev-kubevirt-operator-customresourcedefinition-kubevirts.kubevirt.io",
        "dev-kubevirt-operator-deployment-kubevirt-virt-operator",
        "dev-kubevirt-operator-namespace-kubevirt",
        "dev-kubevirt-operator-serviceaccount-kubevirt-kubevirt-operator",
    ]
    first = {operator[n].urn for n in operator if "-namespace-" in n or "-customresourcedefinition-" in n}
    for name, resource in operator.items():
        if resource.urn not in first:
            assert first <= set(resource.dependencies), name
    deployment = operator["dev-kubevirt-operator-deployment-kubevirt-virt-operator"]
    assert deployment.type == "kubernetes:apps/v1:Deployment"
    assert deployment.inputs["spec"]["replicas"] == 2
    kubevirt = resources["dev-kubevirt-kubevirt"]
    assert {r.urn for r in operator.values()} <= set(kubevirt.dependencies)
    vm = resources["dev-erp-vm"]
    assert {kubevirt.urn, resources["dev-cdi-cdi"].urn} <= set(vm.dependencies)
    recorded = resources["dev-kubevirt"].outputs["operatorManifest"]
    assert (recorded["expanded"], recorded["file"], recorded["sha256"]) == (True, "kubevirt-operator.yaml", digest)


def test_a_manifest_whose_digest_differs_is_refused(tmp_path, dev_config):
    wrong = "0" * 64
    write_stack(tmp_path / "stacks", "pinned", with_operator_file(tmp_path, dev_config, wrong))
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "pinned"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    digest = hashlib.sha256(OPERATOR_FIXTURE.encode()).hexdigest()
    assert (
        f"addons.kubevirt.operatorManifest.sha256: '{wrong}' does not match the manifest, whose sha256 is {digest}"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "build").exists()


def test_a_missing_manifest_file_is_a_config_error(tmp_path, dev_config):
    dev_config["hybrid-infra:addons"] = {"cdi": {"operatorManifest": {"file": "missing.yaml"}}}
    with pytest.raises(ConfigError) as caught:
        plan_with(tmp_path, dev_config)
    assert caught.value.problems == [
        "addons.cdi.operatorManifest.file: 'missing.yaml' cannot be read (No such file or directory)"
    ]


def test_unit_tests_on_mocks_never_fetch(dev_config):
    from hybrid_infra.platform import program

    result = simulate(program, stack="dev", config=dev_config, secret_keys=secret_keys(dev_config))
    assert by_name(result)["dev-kubevirt"].outputs["operatorManifest"]["expanded"] is False


# --- KVM, emulation, live migration, Multus ----------------------------------------------


def test_a_virtualization_pool_without_kvm_is_refused_with_both_ways_out(tmp_path, dev_config):
    dev_config["hybrid-infra:openstack"]["kvmFlavors"] = []
    write_stack(tmp_path / "stacks", "nokvm", dev_config)
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "nokvm"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "stacks/Pulumi.nokvm.yaml: cluster.pools[1]: pool 'virt' cannot run VMs with KVM: its flavor 'v1.xlarge.kvm' is not in "
        "openstack.kvmFlavors; add the flavor there if the cloud operator prepared it for nested virtualization "
        "(or bare metal), or set addons.kubevirt.useEmulation: true to emulate without KVM (slow, for tests only)",
    ]
    assert not (tmp_path / "build").exists()


def test_emulation_only_when_asked_and_with_a_warning(tmp_path, dev_config):
    dev_config["hybrid-infra:openstack"]["kvmFlavors"] = []
    dev_config["hybrid-infra:addons"] = {"kubevirt": {"useEmulation": True}}
    write_stack(tmp_path / "stacks", "emulated", dev_config)
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "emulated"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "warning: KubeVirt emulates VMs in software (addons.kubevirt.useEmulation)" in result.stderr
    kubevirt = yaml.safe_load((tmp_path / "build/emulated/manifests/kubevirt-kubevirt-kubevirt.yaml").read_text())
    assert kubevirt["spec"]["configuration"]["developerConfiguration"]["useEmulation"] is True


def test_live_migration_only_with_read_write_many_storage(tmp_path, dev_config):
    dev_config["hybrid-infra:addons"] = {"storageClass": {"readWriteMany": True}}
    kubevirt = by_name(plan_with(tmp_path, dev_config))["dev-kubevirt-kubevirt"]
    assert kubevirt.inputs["spec"]["workloadUpdateStrategy"] == {"workloadUpdateMethods": ["LiveMigrate"]}


def test_no_kubevirt_without_a_virtualization_pool(tmp_path, dev_config):
    dev_config["hybrid-infra:cluster"]["pools"] = dev_config["hybrid-infra:cluster"]["pools"][:1]
    del dev_config["hybrid-infra:workloads"]["virtualMachines"]
    names = by_name(plan_with(tmp_path, dev_config))
    assert not [n for n in names if "kubevirt" in n or n.startswith("dev-cdi")]


def test_extra_networks_need_multus(dev_config):
    dev_config["hybrid-infra:workloads"]["virtualMachines"][0]["networks"] = ["storage-net"]
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_config)
    assert caught.value.problems == [
        "workloads.virtualMachines[0].networks: ['storage-net'] is not allowed without Multus; "
        "set addons.multus.enabled: true"
    ]


def test_multus_adds_a_bridge_interface_and_keeps_cilium_non_exclusive(tmp_path, dev_config):
    dev_config["hybrid-infra:workloads"]["virtualMachines"][0]["networks"] = ["storage-net"]
    dev_config["hybrid-infra:addons"] = {"multus": {"enabled": True}}
    resources = by_name(plan_with(tmp_path, dev_config))
    template = resources["dev-erp-vm"].inputs["spec"]["template"]["spec"]
    assert template["networks"][1] == {"name": "storage-net", "multus": {"networkName": "storage-net"}}
    assert template["domain"]["devices"]["interfaces"][1] == {"name": "storage-net", "bridge": {}}
    assert resources["dev-cni-cilium"].inputs["values"]["cni"] == {"exclusive": False}
    assert resources["dev-multus"].outputs["operatorManifest"]["component"] == "multus"


MULTUS_DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-multus-ds, namespace: kube-system}
spec:
  selector: {matchLabels: {name: multus}}
  template:
    metadata: {labels: {name: multus}}
    spec:
      initContainers:
      - {name: install-multus-binary, image: "ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick"}
      containers:
      - {name: kube-multus, image: "ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick"}
"""


def test_multus_runs_the_images_of_its_release_not_the_moving_snapshot(tmp_path, dev_config):
    """The release manifest names the moving snapshot-thick tag; the pods run the release's own image."""
    (tmp_path / "multus.yaml").write_text(MULTUS_DAEMONSET)
    dev_config["hybrid-infra:addons"] = {"multus": {"enabled": True, "manifest": {"file": "multus.yaml"}}}
    resources = by_name(plan_with(tmp_path, dev_config))
    daemonset = next(r for r in resources.values() if r.type == "kubernetes:apps/v1:DaemonSet")
    pod = daemonset.inputs["spec"]["template"]["spec"]
    images = [c["image"] for c in [*pod["initContainers"], *pod["containers"]]]
    assert images == ["ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick"] * 2


# --- the VirtualMachine component's arguments -------------------------------------------------


VM = {"name": "legacy", "disk": {"source": "https://images.example.com/a.vmdk", "size": "20Gi"}, "memory": "2Gi"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "Legacy_VM"}, "legacy.name: 'Legacy_VM' is not allowed; use a DNS-1123 label"),
        ({"memory": "64Mi"}, "legacy.memory: '64Mi' is not allowed; use at least 128Mi"),
        ({"memory": "lots"}, "legacy.memory: 'lots' is not allowed; use a Kubernetes quantity such as 512Mi or 20Gi"),
        ({"disk": {"source": "https://images.example.com/a.raw", "size": "512Mi"}},
         "legacy.disk.size: '512Mi' is not allowed; use at least 1Gi"),
        ({"disk": {"source": "images.example.com/a.qcow2", "size": "20Gi"}},
         "legacy.disk.source: 'images.example.com/a.qcow2' is not allowed; use an http(s) URL"),
        ({"runStrategy": "Sometimes"}, "legacy.runStrategy: 'Sometimes' is not allowed; use one of"),
        ({"ports": [{"name": "a-very-long-port-name", "port": 80}]}, "legacy.ports[0].name: 'a-very-long-port-name' is not allowed"),
        ({"ports": [{"name": "http", "port": 70000}]}, "legacy.ports[0].port: 70000 is not allowed; use a number <= 65535"),
    ],
)
def test_bad_virtual_machine_arguments(dev_config, change, expected):
    spec = parse_stack_config(dev_config)

    def program() -> None:
        VirtualMachine("legacy", {**VM, **change}, spec.cluster, opts=None)

    with pytest.raises(ConfigError) as caught:
        simulate(program, stack="test", config={})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected), caught.value.problems


def test_virtual_machine_from_a_users_program(dev_config):
    spec = parse_stack_config(dev_config)

    def program() -> None:
        VirtualMachine(
            "legacy",
            {**VM, "disk": {"source": "docker://quay.io/containerdisks/fedora:41", "size": "10Gi"}, "ports": []},
            spec.cluster,
            opts=None,
        )

    result = simulate(program, stack="test", config={})
    (vm,) = result.of_type("kubernetes:kubevirt.io/v1:VirtualMachine")
    (disk,) = result.of_type("kubernetes:cdi.kubevirt.io/v1beta1:DataVolume")
    assert disk.inputs["spec"]["source"] == {"registry": {"url": "docker://quay.io/containerdisks/fedora:41"}}
    assert not result.of_type("kubernetes:core/v1:Service")
    assert [v["name"] for v in vm.inputs["spec"]["template"]["spec"]["volumes"]] == ["disk"]
    check_openapi(Redactor(result, show_secrets=True).value(vm.inputs), KUBEVIRT_SCHEMA, "v1.VirtualMachine")


def test_workloads_get_their_namespace_and_read_write_many_disks(tmp_path, dev_config):
    dev_config["hybrid-infra:workloads"]["virtualMachines"][0]["namespace"] = "legacy"
    dev_config["hybrid-infra:workloads"]["virtualMachines"][0]["allowFrom"] = []
    dev_config["hybrid-infra:addons"] = {"storageClass": {"readWriteMany": True}}
    resources = by_name(plan_with(tmp_path, dev_config))
    namespace = resources["dev-namespace-legacy"]
    assert namespace.inputs["metadata"]["name"] == "legacy"
    vm = resources["dev-erp-vm"]
    assert namespace.urn in vm.dependencies
    disk = resources["dev-erp-disk"]
    assert namespace.urn in disk.dependencies
    storage = disk.inputs["spec"]["storage"]
    assert (storage["accessModes"], storage["volumeMode"]) == (["ReadWriteMany"], "Block")
    assert vm.inputs["spec"]["template"]["spec"]["evictionStrategy"] == "LiveMigrate"
    assert "dev-namespace-default" not in resources


def test_a_manifest_that_is_not_objects_is_a_config_error(tmp_path, dev_config):
    (tmp_path / "cdi.yaml").write_text("just a string\n")
    dev_config["hybrid-infra:addons"] = {"cdi": {"operatorManifest": {"file": "cdi.yaml"}}}
    with pytest.raises(ConfigError) as caught:
        plan_with(tmp_path, dev_config)
    assert caught.value.problems[0].startswith(
        "addons.cdi.operatorManifest: cdi.yaml is not a manifest (a document is not a Kubernetes object"
    )
