"""YAML text for cloud-configs, kubeadm files and manifests: PyYAML's own emitter, or libyaml's.

PyYAML's pure-Python emitter takes most of the time of rendering a cloud-config; libyaml's, which
PyYAML wraps as ``CSafeDumper`` where it was built with it, is many times faster and writes the same
bytes for most documents, but not all: it folds long double-quoted strings at other places (a
cloud provider's configuration file inside a ConfigMap showed it; ``tests/test_yamltext.py`` keeps the case).
The plan's files must not change a byte from one emitter to the other, so PyYAML's own emitter is
the default and libyaml's is used only where asked (``fast=True``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

LIBYAML = hasattr(yaml, "CSafeDumper")
"""Whether PyYAML was built with libyaml (then its C emitter writes)."""


def _literal_string(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _dumper(base: type, literal_blocks: bool) -> type:
    if not literal_blocks:
        return base
    dumper: Any = type(f"Literal{base.__name__}", (base,), {})
    dumper.add_representer(str, _literal_string)
    return dumper


_DUMPERS = {
    (fast, literal_blocks): _dumper(yaml.CSafeDumper if fast else yaml.SafeDumper, literal_blocks)
    for fast in ((False, True) if LIBYAML else (False,))
    for literal_blocks in (False, True)
}


def dump(
    data: Any, *, sort_keys: bool, literal_blocks: bool = False, width: int | None = None, fast: bool | None = None
) -> str:
    """``yaml.safe_dump(data, sort_keys=...)``; ``literal_blocks`` writes multi-line strings as ``|`` blocks.

    ``fast``: libyaml's emitter (where PyYAML has it, see :data:`LIBYAML`) instead of PyYAML's own.
    """
    dumper = _DUMPERS[bool(fast) and LIBYAML, literal_blocks]
    return yaml.dump(data, Dumper=dumper, sort_keys=sort_keys, width=width)


def dump_all(documents: Iterable[Any], *, sort_keys: bool, fast: bool | None = None) -> str:
    """``yaml.safe_dump_all(documents, sort_keys=...)``."""
    return yaml.dump_all(documents, Dumper=_DUMPERS[bool(fast) and LIBYAML, False], sort_keys=sort_keys)
