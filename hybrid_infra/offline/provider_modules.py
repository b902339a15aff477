"""Provider SDK modules loaded as the program uses them, while a simulation runs.

A provider SDK that Pulumi generates (``pulumi_kubernetes`` and every cloud's) groups its resources
in subpackages whose ``__init__`` star-imports every module of the subpackage, one per resource,
function and type: a cloud's compute subpackage brings in close to two hundred modules,
``pulumi_kubernetes.core.v1`` some fifty, each defining classes whose annotations Python evaluates
as it imports them. A program registering a dozen of their classes pays for all of them: on the
largest of the project's stacks at 100 workers, about a tenth of a plan's time.

While the offline runtime is on (:data:`hybrid_infra.offline.simulate.offline_runtime`), :class:`Finder`
gives such a subpackage, when it is first imported, a loader that does not run those star
imports. A name read from the subpackage is taken from the module its ``__init__`` would take it
from, found by the generators' file naming (:meth:`GeneratedInit.sources`: ``Instance`` and
``InstanceArgs`` from ``instance.py`` or ``Instance.py``, ``get_image`` from ``get_image.py``,
argument types from ``_inputs.py``, enums from ``_enums.py``), and that module's names are bound
into the subpackage as its star import would bind them. Anything else (a name none of those modules defines,
``dir()``, ``from ... import *``) first runs the subpackage's own ``__init__``, which leaves it
exactly as the SDK makes it. Either way a name gives the same object;
``tests/test_provider_modules.py`` checks it for every name of the subpackages the platforms use.

Only a subpackage whose ``__init__`` holds nothing but the generated imports is loaded this way;
any other module, and every module imported before the offline runtime is on, imports as usual.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

PREFIXES = ("pulumi_", "pulumiverse_")
"""Top-level packages of generated provider SDKs."""

_STAR = re.compile(r"from \.(\w+) import \*")
_PLAIN = re.compile(r"from \. import (\w+)")
# The other lines of a generated subpackage's __init__ (pulumi-language-python and pulumigen).
_PREAMBLE = {"import builtins as _builtins", "from .. import _utilities", "from ... import _utilities", "import typing"}
# A resource's arguments class, a function's result types and its output form live in its module.
_SUFFIXES = ("InitArgs", "Args", "Result", "_output")
_PREFIXES = ("Awaitable",)
_TYPES = ("_inputs", "_enums")  # argument types and enums, star-imported after the resources


class GeneratedInit:
    """The imports of a generated subpackage's ``__init__``: modules star-imported, modules imported."""

    def __init__(self, star: list[str], plain: list[str]):
        self.star = star
        self.plain = plain
        self._star = set(star)

    @classmethod
    def read(cls, path: str) -> GeneratedInit | None:
        """The imports of ``path``, or None if it holds anything else."""
        star: list[str] = []
        plain: list[str] = []
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            return None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or line in _PREAMBLE:
                continue
            if match := _STAR.fullmatch(line):
                star.append(match.group(1))
            elif match := _PLAIN.fullmatch(line):
                plain.append(match.group(1))
            else:
                return None
        return cls(star, plain) if star else None

    def sources(self, name: str) -> list[str]:
        """The star-imported modules that may define ``name``, most likely first."""
        stems = [name]
        stems += [name[: -len(suffix)] for suffix in _SUFFIXES if name.endswith(suffix) and len(name) > len(suffix)]
        stems += [stem[len(prefix) :] for stem in list(stems) for prefix in _PREFIXES if stem.startswith(prefix)]
        candidates = [form for stem in stems for form in (stem, _snake(stem))]
        candidates += _TYPES
        return [module for module in dict.fromkeys(candidates) if module in self._star]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _bind_star(package: ModuleType, module: ModuleType) -> None:
    """What ``from .module import *`` in the package's ``__init__`` binds."""
    exported = getattr(module, "__all__", None)
    names = exported if exported is not None else [name for name in vars(module) if not name.startswith("_")]
    package.__dict__.update({name: getattr(module, name) for name in names})


class _Loader(importlib.abc.Loader):
    """Runs a generated subpackage's ``__init__`` only when a name needs it; any other package as usual."""

    def __init__(self, real: Any):
        self.real = real
        self.init: GeneratedInit | None = None  # read when the package is executed, if it qualifies

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        real = self.real
        init = self.init = GeneratedInit.read(module.__spec__.origin or "") if module.__spec__ else None
        if init is None:
            real.exec_module(module)
            return
        package = module.__name__

        def complete() -> None:
            # The subpackage's own __init__, as the SDK runs it; modules already loaded are reused.
            for hook in ("__getattr__", "__dir__"):
                module.__dict__.pop(hook, None)
            real.exec_module(module)

        def resolve(name: str) -> Any:
            if not name.startswith("__"):
                if name in init.plain:
                    return importlib.import_module(f"{package}.{name}")
                for source in init.sources(name):
                    _bind_star(module, importlib.import_module(f"{package}.{source}"))
                    if name in module.__dict__:
                        return module.__dict__[name]
            complete()
            try:
                return module.__dict__[name]
            except KeyError:
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

        def listing() -> list[str]:
            complete()
            return sorted(module.__dict__)

        module.__getattr__ = resolve  # type: ignore[method-assign]
        module.__dir__ = listing  # type: ignore[method-assign]


class Finder(importlib.abc.MetaPathFinder):
    """Gives a provider SDK's subpackages the loader that imports their modules as they are used."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if "." not in fullname or not fullname.startswith(PREFIXES):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.submodule_search_locations or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(spec.loader)
        return spec


FINDER = Finder()


def install() -> None:
    """Put :data:`FINDER` first on ``sys.meta_path``."""
    if FINDER not in sys.meta_path:
        sys.meta_path.insert(0, FINDER)


def uninstall() -> None:
    """Take :data:`FINDER` off ``sys.meta_path``; subpackages it loaded keep completing on demand."""
    while FINDER in sys.meta_path:
        sys.meta_path.remove(FINDER)
