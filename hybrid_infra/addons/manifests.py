"""Release manifests (KubeVirt, CDI, Multus) fetched and registered object by object.

The program reads the manifest itself and creates each object as an ordinary resource: no remote
component (``yaml.v2``), which would fail at the first preview of a new cluster. Only a program
the Pulumi engine runs fetches (:func:`fetches_manifests`): under Pulumi's mocks (the simulated
cloud of ``hybrid-infra plan``, any unit test) a URL source is recorded as the pinned source it is,
and only a local file is expanded. Where the stack has a lock file (:mod:`hybrid_infra.lockfile`),
the bytes read must have the digest it locks.
"""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor

from .. import lockfile
from ..config.addons import CdiSpec, KubeVirtSpec, ManifestSource
from ..config.errors import ConfigError
from ..objects import child_options, create_object

FETCH_TIMEOUT_SECONDS = 60
# Objects others depend on: created first, so the API knows their kinds and namespaces.
_FIRST_KINDS = ("CustomResourceDefinition", "Namespace")


@dataclass(frozen=True)
class PinnedManifest:
    """A release manifest as configured: where it comes from and which version and digest it must be."""

    component: str
    version: str
    source: ManifestSource
    release_url: str
    key: str
    """Where the stack configures it, for error messages."""

    @property
    def url(self) -> str | None:
        return None if self.source.file else (self.source.url or self.release_url)

    def record(self, expanded: bool) -> dict[str, Any]:
        """What the plan shows about the manifest."""
        return {
            "component": self.component,
            "version": self.version,
            "url": self.url,
            "file": self.source.file,
            "sha256": self.source.sha256,
            "expanded": expanded,
        }


def fetches_manifests() -> bool:
    """Whether a release manifest given by URL is fetched: not under Pulumi's mocks.

    A deployment (``pulumi up`` and ``pulumi preview``, the component provider the engine starts)
    fetches it. Under mocks, whichever they are (the simulated cloud, the echo mocks of Pulumi's
    testing guide, a user's own), the program is a unit test or an offline plan, and nothing may
    reach the network.
    """
    return not isinstance(pulumi.runtime.settings.get_monitor(), MockMonitor)


def read_manifest(pinned: PinnedManifest, base_dir: Path) -> list[dict[str, Any]] | None:
    """The manifest's objects, or None when a URL source is not to be fetched (see :func:`fetches_manifests`).

    The bytes must have the stack's ``sha256`` where it pins one, and the digest of the stack's lock
    file where it has an entry for ``pinned.key`` (:func:`hybrid_infra.lockfile.verify`); a lock entry
    made for another version or source is refused, whether or not the bytes are read."""
    if pinned.source.file:
        path = base_dir / pinned.source.file
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ConfigError([f"{pinned.key}.file: {pinned.source.file!r} cannot be read ({error.strerror})"]) from None
    elif not fetches_manifests():
        return None
    else:
        url = pinned.release_url if pinned.url is None else pinned.url
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as answer:
                data = answer.read()
        except OSError as error:
            raise ConfigError(
                [
                    f"{pinned.key}: {url} cannot be fetched ({error}); offline, give a local copy as {pinned.key}.file, "
                    "and in unit tests run on hybrid_infra.testing.SimulatedCloud, which records the pinned manifest "
                    "without fetching it"
                ]
            ) from None
    if pinned.source.sha256:
        digest = hashlib.sha256(data).hexdigest()
        if digest != pinned.source.sha256:
            raise ConfigError(
                [f"{pinned.key}.sha256: {pinned.source.sha256!r} does not match the manifest, whose sha256 is {digest}"]
            )
    lockfile.verify(pinned.key, pinned.version, pinned.url, pinned.source.file, data)
    try:
        return parse_objects(data.decode())
    except (ValueError, yaml.YAMLError) as error:
        raise ConfigError([f"{pinned.key}: {pinned.source.file or pinned.url} is not a manifest ({error})"]) from None


def parse_objects(text: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for document in yaml.safe_load_all(text):
        if not document:
            continue
        if not isinstance(document, dict):
            raise ValueError(f"a document is not a Kubernetes object: {str(document)[:120]}")
        if document.get("kind") == "List" or str(document.get("kind", "")).endswith("List"):
            objects.extend(item for item in document.get("items") or [] if item)
        else:
            objects.append(document)
    for item in objects:
        if not item.get("apiVersion") or not item.get("kind") or not (item.get("metadata") or {}).get("name"):
            raise ValueError(f"an object lacks apiVersion, kind or metadata.name: {str(item)[:120]}")
    return objects


def install_release(
    parent: pulumi.Resource,
    name: str,
    pinned: PinnedManifest,
    base_dir: Path,
    opts: pulumi.ResourceOptions | None,
    adjust: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    provider: pulumi.ProviderResource | None = None,
) -> tuple[list[pulumi.CustomResource], dict[str, Any]]:
    """Register a release manifest's objects as children of ``parent``; return them and the plan's record.

    ``adjust`` sees each object before it is registered and returns the one to register; ``provider``
    registers them instead of the one ``parent`` has. The run's ledger (:mod:`hybrid_infra.lockfile`)
    records the manifest, its lock state and how many objects it registered.
    """
    objects = read_manifest(pinned, base_dir)
    lockfile.record_manifest(
        pinned.key,
        pinned.component,
        pinned.version,
        pinned.url,
        pinned.source.file,
        pinned.source.sha256,
        None if objects is None else len(objects),
    )
    if objects is not None and adjust is not None:
        objects = [adjust(item) for item in objects]
    children = child_options(parent, opts)
    if provider is not None:
        children = pulumi.ResourceOptions.merge(children, pulumi.ResourceOptions(provider=provider))
    created = register_objects(name, objects or [], children)
    return created, pinned.record(expanded=objects is not None)


def register_objects(
    name: str, objects: list[dict[str, Any]], opts: pulumi.ResourceOptions
) -> list[pulumi.CustomResource]:
    """Create every object; CRDs and namespaces first, the rest after them."""
    first = [o for o in objects if o["kind"] in _FIRST_KINDS]
    rest = [o for o in objects if o["kind"] not in _FIRST_KINDS]
    created = [_register(name, o, opts) for o in first]
    after_first = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(created)))
    created += [_register(name, o, after_first) for o in rest]
    return created


def _register(name: str, document: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    metadata = document["metadata"]
    parts = (name, document["kind"].lower(), metadata.get("namespace"), metadata["name"])
    return create_object("-".join(part for part in parts if part), document, opts)


class OperatorRelease(pulumi.ComponentResource):
    """An operator from its release manifest, then the resource it serves, awaited until Available."""

    resource: pulumi.CustomResource
    """The operator's resource; depend on it to come after the operator is Available."""
    operator_manifest: dict[str, Any]
    """The pinned source of the operator manifest, and whether it was expanded."""

    def __init__(
        self,
        type_name: str,
        name: str,
        settings: KubeVirtSpec | CdiSpec,
        release_url: str,
        document: dict[str, Any],
        base_dir: Path,
        opts: pulumi.ResourceOptions | None,
    ):
        """``release_url`` has a ``{version}`` field; the stack's ``addons.<component>`` gives the rest."""
        super().__init__(f"hybrid-infra:index:{type_name}", name, None, opts)
        component = type_name.lower()
        pinned = PinnedManifest(
            component,
            settings.version,
            settings.operator_manifest,
            release_url.format(version=settings.version),
            f"addons.{component}.operatorManifest",
        )
        self.operator, self.operator_manifest = install_release(self, f"{name}-operator", pinned, base_dir, opts)
        self.resource = create_object(
            f"{name}-{document['kind'].lower()}", document, child_options(self, opts, *self.operator)
        )
