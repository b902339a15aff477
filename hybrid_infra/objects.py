"""Register a rendered Kubernetes object (a dict, as in a manifest) as an ordinary Pulumi resource."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def _typed_class(api_version: str, kind: str) -> type[pulumi.CustomResource] | None:
    """The provider's class for a built-in kind (``apps/v1`` Deployment -> ``apps.v1.Deployment``)."""
    group, _, version = api_version.rpartition("/")
    package = group.split(".")[0] if group else "core"
    try:
        module = importlib.import_module(f"pulumi_kubernetes.{package}.{version}")
    except ImportError:
        return None
    found = getattr(module, kind, None)
    return found if isinstance(found, type) and issubclass(found, pulumi.CustomResource) else None


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def create_object(name: str, document: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    api_version, kind = document["apiVersion"], document["kind"]
    fields = {key: value for key, value in document.items() if key not in ("apiVersion", "kind", "status")}
    typed = _typed_class(api_version, kind)
    if typed is not None:
        return typed(name, opts=opts, **{_snake(key): value for key, value in fields.items()})
    # A custom resource: everything but metadata lives under spec.
    return k8s.apiextensions.CustomResource(
        name, api_version=api_version, kind=kind, metadata=fields.get("metadata"), spec=fields.get("spec"), opts=opts
    )


def child_options(
    parent: pulumi.Resource, opts: pulumi.ResourceOptions | None, *depends_on: pulumi.Resource
) -> pulumi.ResourceOptions:
    """Options for a component's children: its parent, what the component waits for, and more.

    Pulumi does not pass a component's ``depends_on`` to its children; add-ons that must come after
    others pass it on with this.
    """
    inherited = opts.depends_on if opts is not None else None
    before: list[pulumi.Resource] = []
    if isinstance(inherited, pulumi.Resource):
        before.append(inherited)
    elif isinstance(inherited, list | tuple):
        before.extend(resource for resource in inherited if isinstance(resource, pulumi.Resource))
    return pulumi.ResourceOptions(parent=parent, depends_on=[*before, *depends_on])
