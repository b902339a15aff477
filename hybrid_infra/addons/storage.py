"""The cluster's default StorageClass."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ..config.addons import StorageClassSpec
from ..objects import child_options


class DefaultStorageClass(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        spec: StorageClassSpec,
        provisioner: str,
        parameters: dict[str, str],
        opts: pulumi.ResourceOptions,
    ):
        super().__init__("hybrid-infra:index:DefaultStorageClass", name, None, opts)
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=spec.name, annotations={"storageclass.kubernetes.io/is-default-class": "true"}
            ),
            provisioner=provisioner,
            parameters=parameters or None,
            reclaim_policy=spec.reclaim_policy,
            allow_volume_expansion=True,
            # Volumes are zonal: create them where the pod is scheduled.
            volume_binding_mode="WaitForFirstConsumer",
            opts=child_options(self, opts),
        )
        self.register_outputs({"name": spec.name})
