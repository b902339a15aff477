"""YAML text for cloud-configs, kubeadm files and manifests: PyYAML's own emitter, or libyaml's where
it writes the same bytes.

PyYAML's pure-Python emitter takes most of the time of rendering a cloud-config; libyaml's, which
PyYAML wraps as ``CSafeDumper`` where it was built with it, is many times faster and writes the same
bytes for most documents, but not all: it folds long double-quoted strings at other places (a
cloud provider's configuration file inside a ConfigMap showed it; ``tests/test_yamltext.py`` keeps
the case). The plan's files must not change a byte from one emitter to the other, so :func:`dump`
hands a document to libyaml only when none of its strings can be written double-quoted
(:func:`libyaml_writes_the_same`); every other document, and every document where PyYAML was built
without libyaml, goes through PyYAML's own emitter. Both emitters share PyYAML's representer: only
the writing of scalars differs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

import yaml

LIBYAML = hasattr(yaml, "CSafeDumper")
"""Whether PyYAML was built with libyaml (then its C emitter writes the documents it can)."""

# What makes PyYAML's emitter pick the double-quoted style for a string (yaml/emitter.py,
# analyze_scalar and choose_scalar_style, PyYAML 6.0): a character outside printable ASCII and the
# line feed (allow_unicode is off in safe_dump), or a space right before a line break. A multi-line
# string is written as a literal block only where ``literal_blocks`` asks for it and it does not end
# in a space; elsewhere it would be quoted, so a document holding one stays with PyYAML. Where else
# the two emitters part was found by the generated documents of tests/test_yamltext.py.
_DOUBLE_QUOTED = re.compile(r"[^\x20-\x7e\n]| \n")


def _plain_or_single_quoted(text: str, literal_blocks: bool) -> bool:
    if _DOUBLE_QUOTED.search(text):
        return False
    if "\n" in text:
        # A block kept with its final line breaks (``|+``) leaves the document open: PyYAML then ends
        # it with ``...``, libyaml does not.
        return literal_blocks and not text.endswith(" ") and text != "\n" and not text.endswith("\n\n")
    return True


def _simple_key(key: str) -> bool:
    # PyYAML writes an empty key, or one of 128 characters or more, as a complex key (``? ''``), and
    # quotes a multi-line one whatever is asked (check_simple_key, choose_scalar_style).
    return 0 < len(key) < 128 and "\n" not in key and _plain_or_single_quoted(key, False)


def libyaml_writes_the_same(data: Any, literal_blocks: bool) -> bool:
    """Whether no string of ``data`` (keys included) can be written double-quoted, so libyaml's emitter
    writes the bytes PyYAML's does (``tests/test_yamltext.py`` checks it on generated documents).

    The document itself must be a mapping or a sequence: after a scalar at the top, PyYAML ends the
    document with ``...`` and libyaml does not."""
    if not isinstance(data, (dict, list, tuple)):
        return False
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not _plain_or_single_quoted(item, literal_blocks):
                return False
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and not _simple_key(key):
                    return False
                pending.append(value)
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, (bytes, bytearray)):
            return False  # binary: a base64 literal block, left to PyYAML
    return True


def _literal_string(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _dumper(base: type, literal_blocks: bool) -> type:
    if not literal_blocks:
        return base
    dumper: type = type(f"Literal{base.__name__}", (base,), {})
    cast(Any, dumper).add_representer(str, _literal_string)
    return dumper


_DUMPERS = {
    (fast, literal_blocks): _dumper(yaml.CSafeDumper if fast else yaml.SafeDumper, literal_blocks)
    for fast in ((False, True) if LIBYAML else (False,))
    for literal_blocks in (False, True)
}


def _fast(documents: Iterable[Any], literal_blocks: bool, fast: bool | None) -> bool:
    if not LIBYAML or fast is False:
        return False
    return fast is True or all(libyaml_writes_the_same(document, literal_blocks) for document in documents)


def dump(
    data: Any, *, sort_keys: bool, literal_blocks: bool = False, width: int | None = None, fast: bool | None = None
) -> str:
    """``yaml.safe_dump(data, sort_keys=...)``; ``literal_blocks`` writes multi-line strings as ``|`` blocks.

    ``fast``: ``None`` (the default) lets libyaml write where it writes the same bytes as PyYAML's own
    emitter, ``False`` always uses PyYAML's own, ``True`` always libyaml's (where PyYAML has it, see
    :data:`LIBYAML`), whatever it writes.
    """
    dumper = _DUMPERS[_fast((data,), literal_blocks, fast), literal_blocks]
    return yaml.dump(data, Dumper=dumper, sort_keys=sort_keys, width=width)


def dump_all(documents: Iterable[Any], *, sort_keys: bool, fast: bool | None = None) -> str:
    """``yaml.safe_dump_all(documents, sort_keys=...)``; ``fast`` as for :func:`dump`."""
    documents = list(documents)
    return yaml.dump_all(documents, Dumper=_DUMPERS[_fast(documents, False, fast), False], sort_keys=sort_keys)


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """``yaml.safe_load(text)``, parsed by libyaml where PyYAML has it (many times faster).

    Both parsers feed the same safe constructor, so a document this project writes with :func:`dump`
    loads as the same data; meant for reading those back (the simulated cloud reads the metadata a
    node would), not for documents from elsewhere, where the two parsers part on some edge cases."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader, C or Python)
