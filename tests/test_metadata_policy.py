"""Pods and KubeVirt guests cannot read the nodes' user data: the CNI denies them the metadata address."""

from __future__ import annotations

import pytest

from hybrid_infra.addons.metadata import CALICO_TIER, METADATA_CIDR, calico_policies, cilium_policy
from hybrid_infra.offline.plan import run_plan
from tests.conftest import write_stack


def test_cilium_denies_the_metadata_address_without_default_deny_for_the_rest():
    policy = cilium_policy()
    assert (policy["apiVersion"], policy["kind"]) == ("cilium.io/v2", "CiliumClusterwideNetworkPolicy")
    spec = policy["spec"]
    assert spec["endpointSelector"] == {}  # every pod; host-network pods are not endpoints
    assert spec["egressDeny"] == [{"toCIDR": [METADATA_CIDR]}]
    # Without this, a deny rule would put every pod into egress default-deny (DNS included).
    assert spec["enableDefaultDeny"] == {"egress": False, "ingress": False}
    assert "egress" not in spec and "ingress" not in spec
    assert METADATA_CIDR == "169.254.169.254/32"


def test_calico_denies_the_metadata_address_in_a_tier_before_kubernetes_policies():
    tier, policy = calico_policies()
    assert (tier["kind"], tier["metadata"]["name"]) == ("Tier", CALICO_TIER)
    assert tier["spec"]["order"] < 1000 and tier["spec"]["defaultAction"] == "Pass"
    assert policy["kind"] == "GlobalNetworkPolicy" and policy["spec"]["tier"] == CALICO_TIER
    assert policy["metadata"]["name"].startswith(f"{CALICO_TIER}.") and policy["metadata"]["name"].count(".") == 1
    assert (policy["spec"]["selector"], policy["spec"]["types"]) == ("all()", ["Egress"])
    deny, rest = policy["spec"]["egress"]
    assert deny == {"action": "Deny", "destination": {"nets": [METADATA_CIDR]}}
    # Pass, not Allow: the default tier (Kubernetes NetworkPolicies) still decides the rest.
    assert rest == {"action": "Pass"}


@pytest.mark.parametrize("cni", ["cilium", "calico"])
def test_the_plan_installs_the_policy_of_the_chosen_cni_after_it(tmp_path, dev_config, cni):
    dev_config["hybrid-infra:cluster"]["cni"] = cni
    write_stack(tmp_path, "dev", dev_config)
    resources = run_plan(tmp_path, "dev").simulation.resources
    release = next(r for r in resources if r.type == "kubernetes:helm.sh/v3:Release" and r.name == f"dev-cni-{cni}")
    policies = [r for r in resources if "MetadataPolicy" in r.parent and r.custom]
    expected = ["CiliumClusterwideNetworkPolicy"] if cni == "cilium" else ["Tier", "GlobalNetworkPolicy"]
    assert sorted(r.inputs["kind"] for r in policies) == sorted(expected)
    for policy in policies:
        assert release.urn in policy.dependencies
    if cni == "calico":
        tier = next(r for r in policies if r.inputs["kind"] == "Tier")
        policy = next(r for r in policies if r.inputs["kind"] == "GlobalNetworkPolicy")
        assert tier.urn in policy.dependencies


def test_calicos_policies_wait_until_its_api_server_serves_them(tmp_path, dev_config):
    dev_config["hybrid-infra:cluster"]["cni"] = "calico"
    write_stack(tmp_path, "dev", dev_config)
    resources = run_plan(tmp_path, "dev").simulation.resources
    (gate,) = [r for r in resources if r.name == "dev-calico-api"]
    assert gate.inputs["api_service"] == "v3.projectcalico.org"
    release = next(r for r in resources if r.name == "dev-cni-calico")
    assert release.urn in gate.dependencies
    for policy in [r for r in resources if "MetadataPolicy" in r.parent and r.custom]:
        assert gate.urn in policy.dependencies


def test_cilium_needs_no_api_gate(tmp_path, dev_config):
    write_stack(tmp_path, "dev", dev_config)
    assert not [r for r in run_plan(tmp_path, "dev").simulation.resources if r.name == "dev-calico-api"]
