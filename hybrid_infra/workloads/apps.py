"""A stateless app in containers: a Deployment and the Service in front of it."""

from __future__ import annotations

from typing import Any

import pulumi

from ..config.errors import validate
from ..config.workloads import ContainerAppSpec
from ..objects import child_options, create_object
from .labels import selector, workload_labels


def deployment(app: ContainerAppSpec) -> dict[str, Any]:
    container = {
        "name": app.name,
        "image": app.image,
        "ports": [{"name": "http", "containerPort": app.port, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": app.port}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": False,
            "runAsNonRoot": True,
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app.name, "namespace": app.namespace, "labels": workload_labels(app.name)},
        "spec": {
            "replicas": app.replicas,
            "selector": {"matchLabels": selector(app.name)},
            "template": {
                "metadata": {"labels": workload_labels(app.name)},
                "spec": {
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                },
            },
        },
    }


def service(name: str, namespace: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": workload_labels(name)},
        "spec": {"type": "ClusterIP", "selector": selector(name), "ports": ports},
    }


def app_service(app: ContainerAppSpec) -> dict[str, Any]:
    return service(app.name, app.namespace, [{"name": "http", "port": app.port, "targetPort": app.port, "protocol": "TCP"}])


class ContainerApp(pulumi.ComponentResource):
    """Deployment + Service of one stateless app."""

    def __init__(self, name: str, app: ContainerAppSpec | dict[str, Any], opts: pulumi.ResourceOptions):
        checked: ContainerAppSpec = validate(ContainerAppSpec, app, path=name)
        super().__init__("hybrid-infra:index:ContainerApp", name, None, opts)
        self.app = checked
        child = child_options(self, opts)
        self.deployment = create_object(f"{name}-deployment", deployment(self.app), child)
        self.service = create_object(f"{name}-service", app_service(self.app), child)
        self.register_outputs({})
