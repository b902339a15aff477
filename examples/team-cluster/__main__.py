"""The payments team's Kubernetes cluster on OpenStack, built from hybrid-infra's components in code.

The cluster's shape is decided here and reviewed like code: three control-plane nodes, a general
pool, and the team's own ``apps`` pool, tainted so that only the team's services run there. Before
any workload, the program installs what HybridPlatform would (the CNI, the policy that keeps pods
from the metadata service, the OpenStack cloud provider), then the team's own Helm release on the
cluster's Kubernetes provider. The stack file holds only what differs per environment.
"""

import pulumi
import pulumi_kubernetes as k8s

from hybrid_infra import (
    POOL_LABEL,
    AddonsSpec,
    ClusterSpec,
    Cni,
    ControlPlaneSpec,
    EndpointSpec,
    KubernetesCluster,
    MetadataPolicy,
    PoolSpec,
    stack_spec,
)
from hybrid_infra.platforms.openstack import OpenStackCloudProviderSpec, OpenStackInfrastructure, OpenStackSpec

TEAM = "payments"
TEAM_TAINT = {"key": "team", "value": TEAM, "effect": "NoSchedule"}

config = pulumi.Config()
name = f"{TEAM}-{pulumi.get_stack()}"

# Checked together as a stack file is: every size is one of the flavors, and so on.
stack = stack_spec(
    ClusterSpec(
        name=name,
        control_plane=ControlPlaneSpec(count=3, size="medium"),
        pools=[
            PoolSpec(name="general", count=2, size="medium"),
            PoolSpec(
                name="apps",
                count=config.require_int("appsNodes"),
                size="large",
                labels={"team": TEAM},
                taints=[TEAM_TAINT],
            ),
        ],
        endpoint=EndpointSpec(public=True, allowed_cidrs=[config.require("clientCidr")]),
    ),
    OpenStackSpec(
        external_network=config.require("externalNetwork"),
        image=config.require("image"),
        flavors={"medium": "m1.medium", "large": "m1.large"},
        cloud_provider=OpenStackCloudProviderSpec(
            auth_url=config.require("authUrl"),
            application_credential_id=config.require("applicationCredentialId"),
            # A Pulumi secret: it reaches the cloud provider's Secret without being read as text.
            application_credential_secret=config.require_secret("applicationCredentialSecret"),
        ),
    ),
    AddonsSpec(),
)

infrastructure = OpenStackInfrastructure(f"{name}-openstack", stack.cluster, stack.section(OpenStackSpec))
cluster = KubernetesCluster(name, stack.cluster, infrastructure)


def on_cluster(*after: pulumi.Resource | None) -> pulumi.ResourceOptions:
    """Through the cluster's Kubernetes provider, once ``after`` exist."""
    return pulumi.ResourceOptions(provider=cluster.provider, depends_on=[r for r in after if r is not None])


cni = Cni(f"{name}-cni", stack.cluster, stack.addons, cluster.api_address, cluster.api_port, on_cluster())
# Before anything else schedules: no pod may reach the nodes' user data.
metadata_policy = MetadataPolicy(f"{name}-metadata-policy", stack.cluster, on_cluster(cni))
cloud_provider = infrastructure.create_cloud_provider(f"{name}-cloud-provider", stack.addons, on_cluster(cni, metadata_policy))

podinfo = k8s.helm.v3.Release(
    "podinfo",
    name="podinfo",
    chart="podinfo",
    version="6.7.1",
    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo="https://stefanprodan.github.io/podinfo"),
    namespace=TEAM,
    create_namespace=True,
    values={
        "replicaCount": 3,
        "nodeSelector": {POOL_LABEL: "apps"},
        "tolerations": [{**TEAM_TAINT, "operator": "Equal"}],
    },
    atomic=True,
    opts=on_cluster(cni, metadata_policy),
)

pulumi.export("endpoint", cluster.endpoint)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("nodes", cluster.nodes)
