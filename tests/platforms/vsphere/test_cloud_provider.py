"""The vSphere cloud provider: the CPI's chart with its own ConfigMap and credential Secret, the CSI driver's
pinned manifest with csi-vsphere.conf in its Secret, and the default StorageClass by storage policy."""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

import pytest
import yaml

from hybrid_infra.addons import manifests
from hybrid_infra.addons.manifests import parse_objects, read_manifest
from hybrid_infra.config import ConfigError
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.offline.simulate import Simulation
from hybrid_infra.platforms.vsphere.cloud_provider import csi_config, pinned_csi_manifest
from hybrid_infra.platforms.vsphere.config import CSI_MANIFEST_SHA256
from hybrid_infra.stack import parse_stack_config
from tests.conftest import STACKS, STAND_IN, VALIDATE_VERSION
from tests.platforms.vsphere.conftest import ca_bundle, load_prod_config, run, shown, with_ca_bundle
from tests.test_addon_order import assert_after, stage
from tests.test_config import problems

kubernetes_validate = pytest.importorskip("kubernetes_validate")

PASSWORD = f"{STAND_IN}hybrid-infra:vsphere.cloudProvider.password"
THUMBPRINT = "3A:9F:1C:44:8B:0E:72:D5:19:6A:C3:F0:28:5B:E7:91:4D:A6:0C:B2"
CA_FILE = "/etc/cloud/vcenter-ca.pem"
"""Where both components find the CA: a key of the ConfigMap (CPI) or Secret (CSI) mounted at /etc/cloud."""
EXTERNAL = "- name: cloud-provider\n        value: external\n"
"""The kubelet's extra argument in each node's kubeadm configuration."""


@pytest.fixture(scope="module")
def prod() -> Simulation:
    return run(load_prod_config())


def objects(result: Simulation) -> dict[str, dict[str, Any]]:
    """The cloud provider's Kubernetes objects, secrets shown, by resource name."""
    return {
        r.name: shown(r.inputs) for r in result.resources if r.name.startswith("prod-vsphere-") and r.type.startswith("kubernetes:")
    }


def by_name(result: Simulation):
    return {r.name: r for r in result.resources}


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def gcfg(text: str) -> dict[str, dict[str, str]]:
    """A reading of gcfg's syntax as the CSI driver's reader takes it: sections, subsections and quoted values."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        header = re.fullmatch(r'\[(\w+) "((?:[^"\\]|\\.)*)"\]', line)
        plain = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = sections.setdefault(header[1] + ":" + unescape(header[2]), {})
        elif plain:
            current = sections.setdefault(plain[1], {})
        elif line.strip():
            found = re.fullmatch(r'([\w-]+) = "((?:[^"\\]|\\.)*)"', line)
            assert found, line
            current[found[1]] = unescape(found[2])
    return sections


def test_the_cpi_reads_its_own_config_map_and_credentials_from_a_secret(prod):
    found = objects(prod)
    config_map = found["prod-vsphere-cpi-config"]
    assert config_map["metadata"] == {"name": "cloud-config", "namespace": "kube-system"}
    assert yaml.safe_load(config_map["data"]["vsphere.conf"]) == {
        "global": {
            "port": 443,
            "secretName": "vsphere-cloud-secret",
            "secretNamespace": "kube-system",
            "thumbprint": THUMBPRINT,
        },
        "vcenter": {"vcenter.example.com": {"server": "vcenter.example.com", "datacenters": ["dc-1"]}},
        # kube-vip's address on a control-plane NIC is never a node's InternalIP.
        "nodes": {"internalNetworkSubnetCidr": "10.30.0.0/24", "excludeInternalNetworkSubnetCidr": "10.30.0.5/32"},
    }
    credentials = found["prod-vsphere-cpi-credentials"]
    assert credentials["metadata"] == {"name": "vsphere-cloud-secret", "namespace": "kube-system"}
    assert credentials["stringData"] == {
        "vcenter.example.com.username": "k8s-cpi@vsphere.local",
        "vcenter.example.com.password": PASSWORD,
    }
    assert type(by_name(prod)["prod-vsphere-cpi-credentials"].inputs["stringData"]).__name__ == "Secret"


def test_the_cpi_chart_is_pinned_and_its_values_hold_no_credential(prod):
    release = by_name(prod)["prod-vsphere-cpi"]
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"], inputs["namespace"]) == (
        "vsphere-cpi", "1.35.1", "https://kubernetes.github.io/cloud-provider-vsphere", "kube-system"
    )
    # The chart mounts the ConfigMap named cloud-config when it makes none itself.
    assert inputs["values"] == {"config": {"enabled": False}}
    resources = by_name(prod)
    assert {resources["prod-vsphere-cpi-config"].urn, resources["prod-vsphere-cpi-credentials"].urn} <= set(
        release.dependencies
    )


def test_the_csi_driver_reads_csi_vsphere_conf_from_its_secret(prod):
    found = objects(prod)
    assert found["prod-vsphere-csi-namespace"]["metadata"] == {"name": "vmware-system-csi"}
    secret = found["prod-vsphere-csi-config"]
    assert secret["metadata"] == {"name": "vsphere-config-secret", "namespace": "vmware-system-csi"}
    assert set(secret["stringData"]) == {"csi-vsphere.conf"}
    assert gcfg(secret["stringData"]["csi-vsphere.conf"]) == {
        "Global": {"thumbprint": THUMBPRINT},
        "VirtualCenter:vcenter.example.com": {
            "user": "k8s-cpi@vsphere.local",
            "password": PASSWORD,
            "port": "443",
            "datacenters": "dc-1",
            "thumbprint": THUMBPRINT,
        },
    }
    resources = by_name(prod)
    assert resources["prod-vsphere-csi-namespace"].urn in resources["prod-vsphere-csi-config"].dependencies


def test_the_csi_syncer_finds_the_thumbprint_under_global(prod):
    """v3.7.3's GetVirtualCenterConfig (the syncer's CNS operator, volume registration and metadata
    controllers) reads the thumbprint under [Global] only; the controller reads [VirtualCenter] first."""
    conf = gcfg(objects(prod)["prod-vsphere-csi-config"]["stringData"]["csi-vsphere.conf"])
    assert conf["Global"]["thumbprint"] == THUMBPRINT
    assert conf["VirtualCenter:vcenter.example.com"]["thumbprint"] == THUMBPRINT


def test_a_ca_bundle_reaches_the_cpi_and_the_csi_driver_as_a_file_beside_their_config(prod_config):
    bundle = ca_bundle() + ca_bundle("Intermediate CA")
    found = objects(run(with_ca_bundle(prod_config, bundle)))
    # The CPI: its ConfigMap is mounted whole at /etc/cloud (chart vsphere-cpi 1.35.1, templates/daemonset.yaml).
    cpi = found["prod-vsphere-cpi-config"]["data"]
    assert set(cpi) == {"vsphere.conf", "vcenter-ca.pem"} and cpi["vcenter-ca.pem"] == bundle
    glob = yaml.safe_load(cpi["vsphere.conf"])["global"]
    assert glob["caFile"] == CA_FILE and "thumbprint" not in glob
    # The CSI driver: its Secret is mounted whole at /etc/cloud (manifests/vanilla, v3.7.3).
    csi = found["prod-vsphere-csi-config"]["stringData"]
    assert set(csi) == {"csi-vsphere.conf", "vcenter-ca.pem"} and csi["vcenter-ca.pem"] == bundle
    conf = gcfg(csi["csi-vsphere.conf"])
    assert conf["Global"] == {"ca-file": CA_FILE}
    assert conf["VirtualCenter:vcenter.example.com"]["ca-file"] == CA_FILE
    assert "thumbprint" not in conf["VirtualCenter:vcenter.example.com"]


def test_without_a_ca_or_thumbprint_the_images_cas_are_used(prod_config):
    del prod_config["hybrid-infra:vsphere"]["cloudProvider"]["thumbprint"]
    found = objects(run(prod_config))
    glob = yaml.safe_load(found["prod-vsphere-cpi-config"]["data"]["vsphere.conf"])["global"]
    assert not {"caFile", "thumbprint", "insecureFlag"} & set(glob)
    assert set(found["prod-vsphere-cpi-config"]["data"]) == {"vsphere.conf"}
    csi = found["prod-vsphere-csi-config"]["stringData"]
    assert set(csi) == {"csi-vsphere.conf"} and "[Global]" not in csi["csi-vsphere.conf"]


def test_a_password_with_quotes_and_backslashes_survives_gcfg(prod_config):
    prod_config["hybrid-infra:vsphere"]["cloudProvider"]["password"] = 'a"b\\c;d#e f'
    section = parse_stack_config(prod_config).platform_section
    text = csi_config(section, section.cloud_provider)
    assert gcfg(text)["VirtualCenter:vcenter.example.com"]["password"] == 'a"b\\c;d#e f'


def test_the_csi_manifest_is_pinned_by_version_and_digest(prod):
    (component,) = prod.of_type("hybrid-infra:index:VSphereCloudProvider")
    record = component.outputs["operatorManifest"]
    assert record == {
        "component": "vsphere-csi",
        "version": "v3.7.3",
        "url": "https://raw.githubusercontent.com/kubernetes-sigs/vsphere-csi-driver/v3.7.3/manifests/vanilla/vsphere-csi-driver.yaml",
        "sha256": CSI_MANIFEST_SHA256,
        "expanded": False,
        "controllerReplicasAtMost": 3,
    }


FIXTURE = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: vsphere-csi-controller
  namespace: vmware-system-csi
"""


class Served(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()


def test_a_fetched_manifest_must_have_the_pinned_digest(prod_config, monkeypatch, tmp_path):
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: Served(FIXTURE.encode()))
    driver = parse_stack_config(prod_config).platform_section.csi_driver
    with pytest.raises(ConfigError) as caught:
        read_manifest(pinned_csi_manifest(driver), tmp_path)
    digest = hashlib.sha256(FIXTURE.encode()).hexdigest()
    assert caught.value.problems == [
        f"vsphere.csiDriver.sha256: '{CSI_MANIFEST_SHA256}' does not match the manifest, whose sha256 is {digest}"
    ]
    prod_config["hybrid-infra:vsphere"]["csiDriver"] = {"url": "https://mirror.example.com/csi.yaml", "sha256": digest}
    mirrored = parse_stack_config(prod_config).platform_section.csi_driver
    assert read_manifest(pinned_csi_manifest(mirrored), tmp_path) == [yaml.safe_load(FIXTURE)]


CONTROLLER_FIXTURE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: vsphere-csi-controller
  namespace: vmware-system-csi
spec:
  replicas: 3
  selector:
    matchLabels: {app: vsphere-csi-controller}
  template:
    metadata:
      labels: {app: vsphere-csi-controller}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector:
                matchExpressions: [{key: app, operator: In, values: [vsphere-csi-controller]}]
              topologyKey: kubernetes.io/hostname
      containers:
        - {name: vsphere-csi-controller, image: registry.k8s.io/csi-vsphere/driver:v3.7.3}
"""
"""The shape of the release manifest's controller at v3.7.3 (manifests/vanilla/vsphere-csi-driver.yaml): 3
replicas that must each run on a different control-plane node."""


def with_expanded_csi_manifest(monkeypatch) -> None:
    """The CSI driver's manifest expanded as ``pulumi up`` expands it, from a fixture; the others stay pinned."""
    original = manifests.read_manifest

    def read(pinned, base_dir):
        if pinned.component == "vsphere-csi":
            return parse_objects(FIXTURE + "---\n" + CONTROLLER_FIXTURE)
        return original(pinned, base_dir)

    monkeypatch.setattr(manifests, "read_manifest", read)


@pytest.mark.parametrize(("count", "replicas"), [(1, 1), (3, 3), (5, 3)])
def test_the_csi_controller_runs_a_replica_per_control_plane_node_up_to_three(monkeypatch, prod_config, count, replicas):
    prod_config["hybrid-infra:cluster"]["controlPlane"]["count"] = count
    with_expanded_csi_manifest(monkeypatch)
    result = run(prod_config)
    resources = by_name(result)
    deployment = resources["prod-vsphere-csi-deployment-vmware-system-csi-vsphere-csi-controller"]
    spec = shown(deployment.inputs)["spec"]
    assert spec["replicas"] == replicas
    # The rest as released: one replica per control-plane node, never two on one.
    assert spec["template"] == yaml.safe_load(CONTROLLER_FIXTURE)["spec"]["template"]
    account = resources["prod-vsphere-csi-serviceaccount-vmware-system-csi-vsphere-csi-controller"]
    assert shown(account.inputs) == yaml.safe_load(FIXTURE)
    (component,) = result.of_type("hybrid-infra:index:VSphereCloudProvider")
    assert component.outputs["operatorManifest"]["expanded"] is True


def test_the_plan_shows_the_controller_replicas_without_the_manifest(prod_config):
    # Offline the manifest is not fetched: its record says what will change in it.
    prod_config["hybrid-infra:cluster"]["controlPlane"]["count"] = 1
    (component,) = run(prod_config).of_type("hybrid-infra:index:VSphereCloudProvider")
    record = component.outputs["operatorManifest"]
    assert (record["expanded"], record["controllerReplicasAtMost"]) == (False, 1)


def test_the_default_storage_class_asks_for_the_storage_policy(prod, prod_config):
    storage = objects(prod)["prod-vsphere-storage-class"]
    assert storage["provisioner"] == "csi.vsphere.vmware.com"
    assert storage["parameters"] == {"storagepolicyname": "vSAN Default Storage Policy"}
    # Default, and cloned by copy: its VolumeSnapshotClass retains snapshots (tests/test_snapshots.py).
    assert storage["metadata"]["annotations"] == {
        "storageclass.kubernetes.io/is-default-class": "true",
        "cdi.kubevirt.io/clone-strategy": "copy",
    }
    del prod_config["hybrid-infra:vsphere"]["storageClass"]
    assert "parameters" not in objects(run(prod_config))["prod-vsphere-storage-class"]


def test_every_plain_object_passes_kubernetes_validate_strict(prod):
    found = [r for r in prod.resources if r.name.startswith("prod-vsphere-") and r.type.startswith("kubernetes:core")]
    found += [r for r in prod.resources if r.name == "prod-vsphere-storage-class"]
    assert {r.type.rsplit(":", 1)[-1] for r in found} == {"ConfigMap", "Secret", "Namespace", "StorageClass"}
    for resource in found:
        group, _, version = resource.type.split(":")[1].rpartition("/")
        kind = resource.type.rsplit(":", 1)[-1]
        api = f"{group.split('/')[0]}/{version}" if group != "core" else version
        document = {"apiVersion": api, "kind": kind, **shown(resource.inputs)}
        kubernetes_validate.validate(document, VALIDATE_VERSION, strict=True)


def test_without_credentials_no_cloud_provider_runs(prod_config):
    del prod_config["hybrid-infra:vsphere"]["cloudProvider"]
    prod_config["hybrid-infra:workloads"]["virtualMachines"][0]["disk"]["storageClass"] = "local"
    result = run(prod_config)
    assert not [r for r in result.resources if r.name.startswith("prod-vsphere-") and r.type.startswith("kubernetes:")]
    (cluster,) = result.of_type("hybrid-infra:index:KubernetesCluster")
    assert all(EXTERNAL not in text for text in shown(cluster.outputs["userData"]).values())


def test_without_credentials_a_vm_needs_a_storage_class(prod_config):
    del prod_config["hybrid-infra:vsphere"]["cloudProvider"]
    assert problems(prod_config) == [
        "workloads.virtualMachines[0].disk.storageClass: no default StorageClass exists for the VM's disk; "
        "set vsphere.cloudProvider (the vSphere CSI driver makes one) or name a StorageClass"
    ]


def test_nodes_start_with_an_external_cloud_provider(prod):
    (cluster,) = prod.of_type("hybrid-infra:index:KubernetesCluster")
    assert all(EXTERNAL in text for text in shown(cluster.outputs["userData"]).values())


def test_the_cloud_provider_comes_after_the_cni_and_kubevirt_after_its_storage_class():
    plan = run_plan(STACKS, "prod")
    network = stage(plan, "hybrid-infra:index:Cni") + stage(plan, "hybrid-infra:index:MetadataPolicy")
    assert_after(plan, stage(plan, "hybrid-infra:index:VSphereCloudProvider"), network)
    storage = stage(plan, "hybrid-infra:index:DefaultStorageClass")
    for component in ("hybrid-infra:index:KubeVirt", "hybrid-infra:index:Cdi"):
        assert_after(plan, stage(plan, component), storage)
