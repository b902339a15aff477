"""The platforms: stack section name -> package, each imported only when a stack uses it.

Every package has the same modules (see ``docs/architecture.md``): ``config`` (its section model,
free of the platform's SDK), ``network``, ``endpoint``, ``nodes``, ``cloud_provider``,
``infrastructure`` (the component behind :class:`~hybrid_infra.platforms.contract.Infrastructure`)
and ``simulated`` (its answers on the simulated cloud). Adding a platform adds one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..config.errors import ConfigError

if TYPE_CHECKING:
    from .contract import Infrastructure, PlatformSection


@dataclass(frozen=True)
class PlatformPackage:
    package: str
    """The Python package holding the platform's modules."""
    sdk: str
    """The Pulumi provider SDK's module, installed by the pip extra of the same name as the section."""


REGISTRY: dict[str, PlatformPackage] = {
    "openstack": PlatformPackage("hybrid_infra.platforms.openstack", sdk="pulumi_openstack"),
    "vsphere": PlatformPackage("hybrid_infra.platforms.vsphere", sdk="pulumi_vsphere"),
    "aws": PlatformPackage("hybrid_infra.platforms.aws", sdk="pulumi_aws"),
}


class PlatformUnavailable(ConfigError):
    """A stack names a platform whose provider SDK is not installed."""


def names() -> list[str]:
    return list(REGISTRY)


def _module(platform: str, module: str) -> ModuleType:
    entry = REGISTRY[platform]
    try:
        return importlib.import_module(f"{entry.package}.{module}")
    except ModuleNotFoundError as error:
        if error.name is None or error.name.partition(".")[0] != entry.sdk:
            raise
        raise PlatformUnavailable(
            [
                f"{platform}: the platform's Pulumi SDK ({entry.sdk}) is not installed; "
                f"install it with: pip install 'hybrid-infra[{platform}]'"
            ]
        ) from None


def section_model(platform: str) -> type[PlatformSection]:
    """The model of the stack section ``hybrid-infra:<platform>`` (needs no SDK)."""
    model: type[PlatformSection] = _module(platform, "config").SECTION
    return model


def infrastructure_class(platform: str) -> type[Infrastructure[Any]]:
    """The platform's infrastructure component; :class:`PlatformUnavailable` without its SDK."""
    component: type[Infrastructure[Any]] = _module(platform, "infrastructure").INFRASTRUCTURE
    return component


def simulated_answers(platform: str) -> ModuleType:
    """The platform's answers on the simulated cloud (needs no SDK)."""
    return _module(platform, "simulated")
