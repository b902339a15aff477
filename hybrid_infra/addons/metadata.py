"""Keep the nodes' user data from pods: a cluster-wide policy of the CNI denies pod egress to the
metadata address, installed right after the CNI and before anything else schedules.

Pod traffic leaves the node masqueraded as the node, so without it any pod (and any KubeVirt guest)
could read the node's user data from the cloud's metadata service: the join token, and on
control-plane nodes the cluster's keys. Host-network pods (the CNI, kube-proxy, a cloud controller
manager that needs the metadata) are not endpoints of either policy and keep their access.
"""

from __future__ import annotations

from typing import Any

import pulumi

from ..config.cluster import ClusterSpec
from ..objects import child_options, create_object

METADATA_CIDR = "169.254.169.254/32"
"""The link-local address of the cloud's instance metadata service."""
POLICY_NAME = "hybrid-infra-deny-metadata"
CALICO_API_SERVICE = "v3.projectcalico.org"
"""The aggregated API that serves projectcalico.org/v3 (the Calico API server the tigera-operator chart
runs, ``apiServer.enabled``): the policies below can be created only once it is Available."""
CALICO_TIER = "hybrid-infra-metadata"
CALICO_TIER_ORDER = 100
"""Before Calico's own tiers (adminnetworkpolicy 1000, default 1000000: api/pkg/apis/projectcalico/v3/tier.go, v3.30.3)."""


def cilium_policy() -> dict[str, Any]:
    """A CiliumClusterwideNetworkPolicy (cilium.io/v2, pkg/policy/api/rule.go at v1.19.3).

    A rule with egress deny rules puts the endpoints it selects into egress default-deny unless
    ``enableDefaultDeny`` says otherwise (rule_validation.go, with the chart's default
    ``enableNonDefaultDenyPolicies: true``): this one denies the metadata address and nothing else.
    """
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "description": "Pods may not reach the cloud's metadata service, which holds the nodes' keys",
            "endpointSelector": {},
            "enableDefaultDeny": {"egress": False, "ingress": False},
            "egressDeny": [{"toCIDR": [METADATA_CIDR]}],
        },
    }


def calico_policies() -> list[dict[str, Any]]:
    """A Calico tier of its own before the default tier, whose policy denies the metadata address and
    passes everything else on, so Kubernetes NetworkPolicies (default tier) still decide the rest.

    projectcalico.org/v3 at v3.30.3: a policy in a non-default tier is named ``<tier>.<name>``
    (libcalico-go/lib/names/policy.go); ``Pass`` skips to the next tier; ``all()`` selects workload
    endpoints only while no host endpoints are defined.
    """
    tier = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "Tier",
        "metadata": {"name": CALICO_TIER},
        "spec": {"order": CALICO_TIER_ORDER, "defaultAction": "Pass"},
    }
    policy = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": f"{CALICO_TIER}.{POLICY_NAME}"},
        "spec": {
            "tier": CALICO_TIER,
            "order": 10,
            "selector": "all()",
            "types": ["Egress"],
            "egress": [
                {"action": "Deny", "destination": {"nets": [METADATA_CIDR]}},
                {"action": "Pass"},
            ],
        },
    }
    return [tier, policy]


class MetadataPolicy(pulumi.ComponentResource):
    """The CNI's cluster-wide policy that denies pod egress to the metadata address. With Calico, give
    ``opts.depends_on`` an :class:`hybrid_infra.readiness.ApiServiceGate` of ``CALICO_API_SERVICE`` too."""

    policies: list[pulumi.CustomResource]
    """The policy objects, in the order they are created; depend on the component to come after them."""

    def __init__(self, name: str, cluster: ClusterSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-infra:index:MetadataPolicy", name, None, opts)
        documents = [cilium_policy()] if cluster.cni == "cilium" else calico_policies()
        self.policies = []
        for document in documents:
            # A Calico policy needs its tier first; nothing may depend on a policy that is not there yet.
            self.policies.append(
                create_object(
                    f"{name}-{document['kind'].lower()}", document, child_options(self, opts, *self.policies)
                )
            )
        self.register_outputs({"policies": [document["metadata"]["name"] for document in documents]})
