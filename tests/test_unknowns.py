"""The runner's check for unknowns answers as the SDK's does and leaves no reference cycle behind."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.output import UNKNOWN
from pulumi.runtime import rpc

from hybrid_infra.offline import unknowns
from hybrid_infra.offline.simulate import offline_runtime

SDK_CONTAINS_UNKNOWNS = rpc.contains_unknowns

leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.just(UNKNOWN))
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=3), inner, max_size=4),
        # Tuples and sets are not walked, by either function: an unknown inside one is not found.
        st.tuples(inner),
        st.frozensets(st.just(UNKNOWN), max_size=1),
    ),
    max_leaves=20,
)


@given(values)
def test_it_answers_as_the_sdk_does(value: Any) -> None:
    assert unknowns.contains_unknowns(value) is SDK_CONTAINS_UNKNOWNS(value)


def _shared_and_cyclic() -> list[Any]:
    shared = {"a": [1, 2]}
    looped: list[Any] = [1]
    looped.append(looped)
    looped_unknown: dict[str, Any] = {"self": None, "late": [UNKNOWN]}
    looped_unknown["self"] = looped_unknown
    return [[shared, shared], looped, looped_unknown, [looped, {"x": looped_unknown}], {"k": (UNKNOWN,)}]


@pytest.mark.parametrize("value", _shared_and_cyclic())
def test_shared_and_cyclic_values_too(value: Any) -> None:
    assert unknowns.contains_unknowns(value) is SDK_CONTAINS_UNKNOWNS(value)


def _cycles_left_by(function: Any) -> int:
    value = {"spec": [{"name": "a", "ports": [1, 2]}, {"name": "b"}], "meta": {"labels": {"x": "y"}}}
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            function(value)
        return gc.collect()
    finally:
        if was_enabled:
            gc.enable()


def test_it_leaves_no_cycle_where_the_sdks_leaves_one_per_call() -> None:
    """Why the module exists: if the SDK's function stops leaving cycles, the mirror can go."""
    assert _cycles_left_by(SDK_CONTAINS_UNKNOWNS) >= 50
    assert _cycles_left_by(unknowns.contains_unknowns) == 0


def test_the_sdk_has_the_function_mirrored() -> None:
    """Fails when the SDK changes the function: the runner would silently keep the SDK's own."""
    assert unknowns.sdk_fits(), "pulumi.runtime.rpc.contains_unknowns changed; see hybrid_infra/offline/unknowns.py"


def test_a_changed_sdk_function_is_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    def contains_unknowns(val: Any) -> bool:  # a different walk: tuples too
        return val is UNKNOWN or isinstance(val, (list, tuple)) and any(map(contains_unknowns, val))

    monkeypatch.setattr(rpc, unknowns.SDK_FUNCTION, contains_unknowns)
    assert not unknowns.sdk_fits()
    with offline_runtime():
        assert rpc.contains_unknowns is contains_unknowns
    monkeypatch.undo()
    with offline_runtime():
        assert rpc.contains_unknowns is unknowns.contains_unknowns
    assert rpc.contains_unknowns is SDK_CONTAINS_UNKNOWNS
