"""Day 2: the running versions kept by Pulumi and checked before anything changes, and the in-place
upgrade of every node by the system-upgrade-controller."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from ..config.stack import StackSpec
from ..config.versions import VERSION_KEYS, upgrade_problems

PREINSTALLED_KEY = "preinstalled"


def version_failures(olds: dict[str, Any], news: dict[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    """The refused changes from the running versions (``olds``) to the asked ones (``news``)."""
    if not olds:
        return []  # a new cluster: nothing runs yet
    failures = [
        pulumi.dynamic.CheckFailure(key.output, problem)
        for key in VERSION_KEYS
        for problem in upgrade_problems({key.output: olds.get(key.output)}, {key.output: news.get(key.output)})
    ]
    changed = olds.get("kubernetesVersion") != news.get("kubernetesVersion")
    if changed and news.get(PREINSTALLED_KEY):
        failures.append(
            pulumi.dynamic.CheckFailure(
                "kubernetesVersion",
                f"cluster.kubernetesVersion: {news.get('kubernetesVersion')!r} is not allowed with "
                "cluster.packages.preinstalled: the nodes' image holds the Kubernetes packages, so an upgrade "
                "needs a new image: build one with the new version, set it in the platform section and renew "
                "the nodes one at a time (see `hybrid-infra rollout`)",
            )
        )
    return failures


class _VersionGuardProvider(pulumi.dynamic.ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        # The engine checks before it changes anything: a refused version stops `pulumi preview` and `up`.
        return pulumi.dynamic.CheckResult(news, version_failures(_olds, news))

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_="versions", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=news)


class VersionGuard(pulumi.dynamic.Resource):
    """Keeps the running versions of Kubernetes, KubeVirt and CDI; refuses a change the version rules forbid."""

    kubernetesVersion: pulumi.Output[str]  # noqa: N815 (the guard's input names are the stack outputs')

    def __init__(self, name: str, spec: StackSpec, opts: pulumi.ResourceOptions | None = None):
        versions: dict[str, Any] = {"kubernetesVersion": spec.cluster.kubernetes_version}
        if spec.virtualization:
            versions.update(kubevirtVersion=spec.addons.kubevirt.version, cdiVersion=spec.addons.cdi.version)
        versions[PREINSTALLED_KEY] = spec.cluster.packages.preinstalled
        super().__init__(_VersionGuardProvider(), name, versions, opts)
