"""Whether a value holds an unknown, without leaving a reference cycle behind.

The SDK asks ``pulumi.runtime.rpc.contains_unknowns`` of every Output's value, at every ``apply``,
``all`` and serialization: at 1000 nodes some two hundred thousand times. The SDK's function
defines a recursive closure at each call, a function that holds itself through its cell, with its
annotations evaluated into a new dict and ``set[int]`` alias. Each call thus leaves a reference
cycle of about five objects that only the cyclic collector frees. The offline runtime keeps that
collector off while it is on (:data:`hybrid_infra.offline.simulate.offline_runtime`), so
the cycles would pile up: at 1000 nodes they were some 60 MiB of a plan's peak memory.

:func:`contains_unknowns` gives the SDK's answer for every value (it walks the same dicts and
lists, looks at each object once, and finds the same unknowns) from a plain loop that leaves
nothing behind. The offline runtime installs it where the SDK has the function it mirrors
(:func:`sdk_fits`); ``tests/test_unknowns.py`` compares both on generated values and fails when
the SDK moves.
"""

from __future__ import annotations

import inspect
from typing import Any

from pulumi.runtime import known_types, rpc

SDK_FUNCTION = "contains_unknowns"
"""The function of ``pulumi.runtime.rpc`` the SDK (``pulumi.output`` included) asks."""

_is_unknown = known_types.is_unknown


def contains_unknowns(val: Any) -> bool:
    """Whether ``val`` is an unknown or holds one in its dicts' values and its lists, at any depth."""
    seen: set[int] = set()
    pending = [val]
    while pending:
        item = pending.pop()
        if _is_unknown(item):
            return True
        key = id(item)
        if key in seen:
            continue
        seen.add(key)
        if isinstance(item, dict):
            pending.extend(item[name] for name in item)
        elif isinstance(item, list):
            pending.extend(item)
    return False


def sdk_fits() -> bool:
    """Whether the SDK's function is the one mirrored: one argument ``val``, whose code (its nested
    function's included) asks ``is_unknown`` and walks dicts and lists, and nothing else."""
    code = getattr(getattr(rpc, SDK_FUNCTION, None), "__code__", None)
    if code is None or code.co_varnames[: code.co_argcount] != ("val",):
        return False
    names = set(code.co_names)
    for constant in code.co_consts:
        if inspect.iscode(constant):
            names.update(constant.co_names)
    return _SDK_NEEDS <= names <= _SDK_NEEDS | _SDK_ANNOTATIONS


# The global and attribute names the SDK's function uses (pulumi 3.x), its nested function's
# included; any other would be a change this module does not mirror.
_SDK_NEEDS = {"known_types", "is_unknown", "id", "add", "isinstance", "dict", "list", "any", "set"}
# ... and the names of its annotations, which Python 3.11 evaluates at every call.
_SDK_ANNOTATIONS = {"Any", "bool", "int"}
