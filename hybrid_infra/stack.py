"""The whole stack: generic sections plus the platform sections the registry knows, validated together.

A stack file holds structured Pulumi config objects under the ``hybrid-infra`` namespace
(``hybrid-infra:cluster`` and a platform section such as ``hybrid-infra:<platform>``). Every
problem becomes one line naming the key path, the value given and what is allowed, and all of
them are reported together before any resource is registered.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pulumi
from pydantic import BaseModel, SecretStr, create_model, model_validator
from pydantic_core import PydanticCustomError

from . import platforms
from .config.addons import AddonsSpec
from .config.cluster import CONTROL_PLANE_POOL, ClusterSpec
from .config.errors import ConfigError, format_problems, problem, problems_of, raise_problems, suggestion
from .config.fields import Spec
from .config.versions import Pin
from .config.workloads import WorkloadsSpec
from .topology import lone_virtualization_nodes

if TYPE_CHECKING:
    from .platforms.contract import PlatformSection

NAMESPACE = "hybrid-infra"
SectionModel = TypeVar("SectionModel", bound="PlatformSection")
GENERIC_SECTIONS = ("cluster", "addons", "workloads")


class StackSpec(Spec):
    """The whole validated stack: the cluster, its add-ons and workloads, and the platform it runs on.

    :func:`parse_stack_config` validates against a subclass that has one optional field per
    registered platform section.
    """

    cluster: ClusterSpec
    addons: AddonsSpec = AddonsSpec()
    workloads: WorkloadsSpec = WorkloadsSpec()

    @property
    def sections(self) -> dict[str, PlatformSection]:
        """The platform sections given, by name."""
        found = {name: getattr(self, name, None) for name in platforms.names()}
        return {name: section for name, section in found.items() if section is not None}

    @property
    def platform(self) -> str:
        """The name of the (only) platform section."""
        return next(iter(self.sections))

    @property
    def platform_section(self) -> PlatformSection:
        """The section of the stack's platform, as the contract types it; :meth:`section` gives it typed."""
        return self.sections[self.platform]

    def section(self, model: type[SectionModel]) -> SectionModel:
        """The stack's section of ``model``'s platform, typed as that model (``stack.section(OpenStackSpec)``);
        :class:`ConfigError` in one line when the stack has none."""
        for section in self.sections.values():
            if isinstance(section, model):
                return section
        raise ConfigError(
            [f"{NAMESPACE}:{model.stack_key}: required key is missing; this program runs on {model.stack_key}, "
             f"the stack gives {', '.join(self.sections)}"]
        )

    def pins(self) -> list[Pin]:
        """Every default pin the stack keeps: the cluster's, the add-ons' and each platform section's."""
        return [
            *self.cluster.pins(),
            *self.addons.pins(self.cluster.cni),
            *(pin for section in self.sections.values() for pin in section.pins()),
        ]

    def nodes_on(self, platform: str, pools: Collection[str] | None = None) -> int:
        """The nodes a platform section runs, or those of its pools named (the control plane's is ``control-plane``).

        A section's ``check`` states its quotas as :class:`~hybrid_infra.config.cluster.NodeLimit` and
        checks them against these counts, as the cluster checks its networks.
        """
        cluster = self.cluster
        placed = [(CONTROL_PLANE_POOL, cluster.control_plane.platform, cluster.control_plane.count)]
        placed += [(pool.name, pool.platform, pool.count) for pool in cluster.pools]
        return sum(
            count
            for name, chosen, count in placed
            if chosen in (None, platform) and (pools is None or name in pools)
        )

    @property
    def virtualization(self) -> bool:
        return any(pool.virtualization for pool in self.cluster.pools)

    def warnings(self) -> list[str]:
        """What the stack allows but its owner should know, one line each naming the key: `hybrid-infra
        validate` and `plan` print them, `pulumi up` logs them."""
        zones = {name: section.zones() for name, section in self.sections.items()}
        return lone_virtualization_nodes(self.cluster, zones, self.platform)

    @model_validator(mode="after")
    def _platform_consistent(self) -> StackSpec:
        # Every problem across sections at once: the platform chosen, the sizes, the section's own
        # checks and the workloads'.
        present = list(self.sections)
        known = platforms.names()
        found: list[PydanticCustomError] = []
        if len(present) != 1:
            found.append(
                problem(
                    f"{len(present)} platform sections given ({', '.join(present) or 'none'}); "
                    f"set exactly one of: {', '.join(f'{NAMESPACE}:{name}' for name in known)}",
                    key=known[0] if not present else present[1],
                )
            )
        chosen = [("cluster.controlPlane.platform", self.cluster.control_plane.platform)]
        chosen += [(f"cluster.pools[{i}].platform", pool.platform) for i, pool in enumerate(self.cluster.pools)]
        found += [
            problem(
                f"{name!r} is not allowed; name a platform section of this stack: {', '.join(present)}",
                key=path,
                absolute=True,
            )
            for path, name in chosen
            if name is not None and name not in present
        ]
        if len(present) == 1:
            section = self.platform_section
            found += section.size_problems(self.platform, pool_sizes(self.cluster, self.platform))
            found += problems_of(lambda: section.check(self))
            found += self._workload_problems()
        raise_problems(found)
        return self

    def _workload_problems(self) -> list[PydanticCustomError]:
        found: list[PydanticCustomError] = []
        workloads = self.workloads
        apps = [app.name for app in workloads.containers]
        names = apps + [vm.name for vm in workloads.virtual_machines]
        section = self.platform_section
        for index, vm in enumerate(workloads.virtual_machines):
            path = f"workloads.virtualMachines[{index}]"
            if not self.virtualization:
                found.append(
                    problem(
                        f"{vm.name!r} needs a pool marked for virtualization; set virtualization: true on a pool in "
                        "cluster.pools",
                        key=path,
                        absolute=True,
                    )
                )
            disks = [(f"{path}.disk", vm.disk)]
            disks += [(f"{path}.dataDisks[{number}]", disk) for number, disk in enumerate(vm.data_disks)]
            found += [
                problem(
                    f"no default StorageClass exists for the VM's disk; {section.storage_class_hint} or name a StorageClass",
                    key=f"{where}.storageClass",
                    absolute=True,
                )
                for where, disk in disks
                if disk.storage_class is None and not section.provides_storage_class()
            ]
            if vm.networks and not self.addons.multus.enabled:
                found.append(
                    problem(
                        f"{vm.networks!r} is not allowed without Multus; set addons.multus.enabled: true",
                        key=f"{path}.networks",
                        absolute=True,
                    )
                )
            found += [
                problem(
                    f"{source!r} is not allowed; name a container app in workloads.containers: {', '.join(apps) or 'none'}",
                    key=f"{path}.allowFrom",
                    absolute=True,
                )
                for source in vm.allow_from
                if source not in apps
            ]
        found += [
            problem(f"{name!r} is not allowed; workload names must be unique", key="workloads", absolute=True)
            for index, name in enumerate(names)
            if name in names[:index]
        ]
        return found


def pool_sizes(cluster: ClusterSpec, platform: str) -> list[tuple[str, str]]:
    """The key and size of the control plane and each pool that run on ``platform``."""
    placed = [("cluster.controlPlane.size", cluster.control_plane.size, cluster.control_plane.platform)]
    placed += [(f"cluster.pools[{i}].size", pool.size, pool.platform) for i, pool in enumerate(cluster.pools)]
    return [(key, size) for key, size, chosen in placed if chosen in (None, platform)]


def _sizes_refused(sections: Mapping[str, Any]) -> list[str]:
    """The sizes the platform section does not map, for a stack whose other problems keep the checks
    across sections from running: its bad sizes show beside them, in the same run.

    Checked once the platform section validates on its own, against the size each pool gives,
    whatever else is wrong with the pool.
    """
    given = [name for name in platforms.names() if name in sections]
    cluster = sections.get("cluster")
    if len(given) != 1 or not isinstance(cluster, Mapping):
        return []
    platform = given[0]
    try:
        section = platforms.section_model(platform).model_validate(sections[platform])
    except ConfigError:
        return []
    control_plane = cluster.get("controlPlane", cluster.get("control_plane"))
    pools = cluster.get("pools")
    placed = [("cluster.controlPlane.size", control_plane)]
    placed += [(f"cluster.pools[{i}].size", pool) for i, pool in enumerate(pools if isinstance(pools, list) else [])]
    sizes = [
        (key, part["size"])
        for key, part in placed
        if isinstance(part, Mapping)
        and isinstance(part.get("size"), str)
        and part["size"].strip()
        and part.get("platform") in (None, platform)
    ]
    return format_problems(section.size_problems(platform, sizes))


@functools.cache
def stack_model() -> type[StackSpec]:
    """:class:`StackSpec` with one optional field per registered platform section."""
    fields: dict[str, Any] = {name: (platforms.section_model(name) | None, None) for name in platforms.names()}
    return cast(type[StackSpec], create_model("StackSpec", __base__=StackSpec, **fields))


def section_names() -> list[str]:
    """Every section a stack may set under the ``hybrid-infra`` namespace."""
    return [*GENERIC_SECTIONS, *platforms.names()]


def parse_stack_config(config: Mapping[str, Any], secret_paths: Collection[str] | None = None) -> StackSpec:
    """Validate the ``hybrid-infra:*`` keys of a stack's config (values already decoded from YAML or JSON).

    Keys of other namespaces (provider settings such as ``<provider>:region``) are left to their owners.
    ``secret_paths`` names the values that came encrypted (``hybrid-infra:<section>`` for a whole
    section, or a path below it such as ``hybrid-infra:<section>.a.b[0]``); given, every secret key
    (credentials, passwords) must lie under one of them. A program's own arguments pass None.
    """
    model = stack_model()
    sections: dict[str, Any] = {}
    problems: list[str] = []
    allowed = section_names()
    for key, value in config.items():
        namespace, sep, name = key.partition(":")
        if namespace != NAMESPACE or not sep:
            continue
        if name not in allowed:
            problems.append(f"{key}: unknown key{suggestion(name, allowed, prefix=NAMESPACE + ':')}")
            continue
        sections[name] = value
    try:
        spec = model.model_validate(sections)
    except ConfigError as error:
        for line in error.problems:
            # A whole section is a config key of its own: name it as the stack file does.
            section, sep, rest = line.partition(": ")
            problems.append(f"{NAMESPACE}:{line}" if section in allowed and rest == "required key is missing" else line)
        problems += [line for line in _sizes_refused(sections) if line not in problems]
    if problems:
        raise ConfigError(problems)
    if secret_paths is not None:
        plain = [path for path in secret_fields(spec) if not _covered(f"{NAMESPACE}:{path}", secret_paths)]
        if plain:
            raise ConfigError(
                f"{path}: a plain value is not allowed for a secret (it would sit unencrypted in the stack file); "
                f"set it encrypted with: pulumi config set --path --secret '{NAMESPACE}:{path}' <value>"
                for path in plain
            )
    return spec


def stack_spec(
    cluster: ClusterSpec,
    platform: PlatformSection,
    addons: AddonsSpec | None = None,
    workloads: WorkloadsSpec | None = None,
) -> StackSpec:
    """A stack assembled in a program from typed parts, checked as a stack file is.

    The checks across sections run: every size the cluster names is one the platform section
    defines, a virtualization pool's machines can run KVM, workloads name what exists. Raises
    :class:`ConfigError` with one line per problem.
    """
    names = [name for name in platforms.names() if isinstance(platform, platforms.section_model(name))]
    if not names:
        raise ConfigError(
            [f"{type(platform).__name__} is not allowed; give the section of a platform: {', '.join(platforms.names())}"]
        )
    model = stack_model()
    parts: dict[str, Any] = {"cluster": cluster, names[0]: platform}
    if addons is not None:
        parts["addons"] = addons
    if workloads is not None:
        parts["workloads"] = workloads
    return model.model_validate(parts)


def secret_fields(model: BaseModel, prefix: str = "") -> Iterator[str]:
    """The key paths of every secret value set in ``model``, as a stack file names them."""
    for name, field in type(model).model_fields.items():
        yield from _secret_paths(getattr(model, name), f"{prefix}.{field.alias or name}".lstrip("."))


def _secret_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield path
    elif isinstance(value, BaseModel):
        yield from secret_fields(value, path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secret_paths(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_paths(item, f"{path}.{key}")


def _covered(path: str, secret_paths: Collection[str]) -> bool:
    return any(path == secret or path.startswith((f"{secret}.", f"{secret}[")) for secret in secret_paths)


def from_pulumi_config() -> StackSpec:
    """The running Pulumi program's stack config, validated (structured values arrive as JSON).

    The engine tells which keys hold an encrypted value, section by section (a ``secure:`` value
    anywhere in a section makes the whole section secret).
    """
    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    secret: list[str] = []
    for name in section_names():
        value = config.get_object(name)
        if value is not None:
            raw[config.full_key(name)] = value
            if pulumi.runtime.is_config_secret(config.full_key(name)):
                secret.append(config.full_key(name))
    return parse_stack_config(raw, secret)
