"""Outputs the providers compute (keys, certificates, addresses, IDs), checked before the components
build on them.

A real provider always answers with them. Mocks that return only a resource's inputs (the echo
mocks of Pulumi's testing guide) leave them out, and a render deep inside an apply would then fail
on None with a message that says nothing useful; :func:`computed` stops there with one message
that says what to use instead.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pulumi

T = TypeVar("T")

SIMULATED_CLOUD_HINT = (
    "hybrid-infra's components build on outputs the providers compute (keys, certificates, addresses), "
    "and a provider answered without one: mocks that return only the inputs cannot run them. "
    "In unit tests use hybrid_infra.testing.SimulatedCloud, which answers like the real providers: "
    'pulumi.runtime.set_mocks(SimulatedCloud("test"), preview=False)'
)


class MissingComputedOutput(RuntimeError):
    """A provider answered without an output it computes: the mocks of a unit test echo the inputs."""

    def __init__(self) -> None:
        super().__init__(SIMULATED_CLOUD_HINT)


def _present(value: T | None) -> T:
    if value is None:
        raise MissingComputedOutput()
    return value


def _all_present(values: list[Any]) -> list[Any]:
    for value in values:
        _present(value)
    return values


def computed(value: pulumi.Output[T]) -> pulumi.Output[T]:
    """``value`` once the provider has computed it; :class:`MissingComputedOutput` if it answered None.

    Unknown in a preview, as the value is; secret if it is.
    """
    return value.apply(_present)


def all_computed(*values: pulumi.Input[Any]) -> pulumi.Output[list[Any]]:
    """Like ``pulumi.Output.all``, each value checked as :func:`computed` checks one."""
    return pulumi.Output.all(*values).apply(_all_present)
