"""The CNI: its Helm values, and Calico's CRDs before its chart."""

from __future__ import annotations

import pytest

from hybrid_infra.addons.cni import calico_values, cilium_values_for
from hybrid_infra.config.errors import ConfigError
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.stack import parse_stack_config
from tests.conftest import write_stack


def test_cni_values_carry_the_pod_network(dev_config):
    dev_config["hybrid-infra:cluster"]["network"]["podCidr"] = "10.128.0.0/16"
    spec = parse_stack_config(dev_config)
    cilium = cilium_values_for(spec.cluster, spec.addons, "10.20.0.2", 6443)
    assert cilium["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"] == ["10.128.0.0/16"]
    assert (cilium["k8sServiceHost"], cilium["k8sServicePort"]) == ("10.20.0.2", 6443)
    assert "cni" not in cilium
    calico = calico_values(spec.cluster, "10.20.0.2", 6443)
    assert calico["installation"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.128.0.0/16"
    assert calico["installation"]["calicoNetwork"]["ipPools"][0]["encapsulation"] == "VXLAN"


CRDS = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: installations.operator.tigera.io
spec:
  group: operator.tigera.io
  names: {kind: Installation, plural: installations}
  scope: Cluster
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
"""


def test_calico_gets_its_crds_pinned_by_digest_and_before_its_chart(tmp_path, dev_config):
    """From v3.32 the tigera-operator chart carries no CRDs: the release's manifest comes first."""
    dev_config["hybrid-infra:cluster"]["cni"] = "calico"
    write_stack(tmp_path / "stacks", "dev", dev_config)
    plan = run_plan(tmp_path / "stacks", "dev")
    (pinned,) = [r.outputs["operatorManifest"] for r in plan.simulation.resources if r.type == "hybrid-infra:index:Cni"]
    assert pinned == {
        "component": "calico-crds",
        "version": "v3.32.1",
        "url": "https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/operator-crds.yaml",
        "sha256": "192f8b2d934ef24b62e86b7e1a6e1762d1c8af26a916f78057bc13fa5ed60f71",
        "expanded": False,
    }
    # A local copy is read offline: its CRDs are registered, and the chart waits for them.
    (tmp_path / "crds.yaml").write_text(CRDS)
    dev_config["hybrid-infra:addons"] = {"calicoCrds": {"file": "crds.yaml"}}
    write_stack(tmp_path / "stacks", "dev", dev_config)
    plan = run_plan(tmp_path / "stacks", "dev")
    resources = plan.simulation.resources
    crd = next(r for r in resources if r.type == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    release = next(r for r in resources if r.type == "kubernetes:helm.sh/v3:Release" and r.name == "dev-cni-calico")
    assert crd.urn in release.dependencies
    # A cluster made with v3.30 has these CRDs already, installed by its chart outside the release: they are
    # adopted, and their fields taken over from Helm.
    assert "pulumi:providers:kubernetes::dev-cluster-kubernetes-adopt" in crd.provider
    assert crd.inputs["metadata"]["annotations"] == {"pulumi.com/patchForce": "true"}
    adopter = next(r for r in resources if r.name == "dev-cluster-kubernetes-adopt")
    assert adopter.inputs["upsertExistingObjects"] in (True, "true")


def test_a_mirrored_calico_crd_manifest_needs_its_digest(dev_config):
    dev_config["hybrid-infra:addons"] = {"calicoCrds": {"url": "https://mirror.example.com/operator-crds.yaml"}}
    with pytest.raises(ConfigError) as error:
        parse_stack_config(dev_config)
    assert error.value.problems == [
        "addons.calicoCrds.sha256: missing; a manifest from a custom url must be pinned by its sha256"
    ]
