"""The team's program, run as `pulumi up` and `pulumi preview` would run it, on the simulated cloud."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_infra.testing import Secret, Simulation, Unknown, simulate

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["name"]
SECRET = "an-application-credential-secret"


def stack_config(stack: str) -> tuple[dict[str, Any], list[str]]:
    """The stack file's config, with each encrypted value replaced by a stand-in, and the secret keys."""
    config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    secret_keys = [key for key, value in config.items() if isinstance(value, dict) and "secure" in value]
    return {key: SECRET if key in secret_keys else value for key, value in config.items()}, secret_keys


def run(preview: bool = False) -> Simulation:
    config, secret_keys = stack_config("dev")
    return simulate(
        lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__"),
        stack="dev",
        project=PROJECT,
        config=config,
        secret_keys=secret_keys,
        preview=preview,
    )


@pytest.fixture(scope="module")
def up() -> Simulation:
    return run()


def named(result: Simulation, type_: str, name: str):
    return next(r for r in result.of_type(type_) if r.name == name)


def test_the_team_pool_joins_the_cluster_with_its_label_and_taint(up):
    instances = up.of_type("openstack:compute/instance:Instance")
    by_pool: dict[str, list[str]] = {}
    for instance in instances:
        by_pool.setdefault(instance.inputs["metadata"]["hybrid-infra-pool"], []).append(instance.inputs["flavorName"])
    assert by_pool == {"control-plane": ["m1.medium"] * 3, "general": ["m1.medium"] * 2, "apps": ["m1.large"] * 3}
    (cluster,) = up.of_type("hybrid-infra:index:KubernetesCluster")
    cloud_config = yaml.safe_load(cluster.outputs["userData"].value["payments-dev-apps-0"])
    join = next(f["content"] for f in cloud_config["write_files"] if f["path"].endswith("kubeadm-join.yaml"))
    registration = yaml.safe_load(join)["nodeRegistration"]
    kubelet = {arg["name"]: arg["value"] for arg in registration["kubeletExtraArgs"]}
    assert {"hybrid-infra.io/pool=apps", "team=payments"} <= set(kubelet["node-labels"].split(","))
    assert registration["taints"] == [{"key": "team", "value": "payments", "effect": "NoSchedule"}]


def test_the_helm_release_runs_on_the_clusters_provider_after_the_network(up):
    release = named(up, "kubernetes:helm.sh/v3:Release", "podinfo")
    provider = named(up, "pulumi:providers:kubernetes", "payments-dev-kubernetes")
    assert release.provider == provider.urn
    cilium = named(up, "kubernetes:helm.sh/v3:Release", "payments-dev-cni-cilium")
    policy = named(
        up, "kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy", "payments-dev-metadata-policy-ciliumclusterwidenetworkpolicy"
    )
    assert {cilium.urn, policy.urn} <= set(release.dependencies)
    assert release.inputs["values"]["nodeSelector"] == {"hybrid-infra.io/pool": "apps"}
    assert release.inputs["values"]["tolerations"] == [
        {"key": "team", "value": "payments", "effect": "NoSchedule", "operator": "Equal"}
    ]


def test_the_cloud_provider_gets_the_secret_from_config_and_keeps_it_secret(up):
    cloud_config = named(up, "kubernetes:core/v1:Secret", "payments-dev-cloud-provider-cloud-config")
    data = cloud_config.inputs["stringData"]
    assert isinstance(data, Secret)
    assert f"application-credential-secret={SECRET}" in data.value["cloud.conf"]


def test_the_stack_outputs(up):
    assert up.outputs["endpoint"] == "203.0.113.10"
    assert isinstance(up.outputs["kubeconfig"], Secret)
    assert [node["pool"] for node in up.outputs["nodes"]] == ["control-plane"] * 3 + ["general"] * 2 + ["apps"] * 3


def test_preview_registers_the_same_resources_with_the_endpoint_unknown(up):
    preview = run(preview=True)
    assert [r.urn for r in preview.resources] == [r.urn for r in up.resources]
    assert isinstance(preview.outputs["endpoint"], Unknown)
