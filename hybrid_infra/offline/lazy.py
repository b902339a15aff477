"""Resource properties whose Outputs start working only when the program uses them.

For every property a resource class declares, inputs and outputs alike, the SDK's
``pulumi.runtime.rpc.transfer_properties`` makes an Output at once: a task that awaits four
futures, tracked until it completes. A typed provider class declares all its properties (a
virtual machine's class some seventy), and a program reads a few, so most of these tasks run for
nothing: at 1000 nodes they are most of the Outputs a plan makes, and much of its time and memory.

:func:`transfer_properties` does what the SDK's does, with one difference: each property is a
:class:`LazyOutput`, which keeps what the registration resolves (the same values the SDK's
resolvers put in the four futures) and makes its one future, tracked as the SDK tracks it, only
when something reads the Output. An Output nobody reads costs one small object. The offline
runtime (:data:`hybrid_infra.offline.simulate.offline_runtime`, which ``hybrid-infra plan`` and the
bench opt in to) installs it while it is on, where the SDK has the shape it was written against
(:func:`sdk_fits`);
``tests/test_offline_runtime.py`` fails when the SDK moves.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pulumi.output
from pulumi import Output
from pulumi.runtime import rpc

_OutputData: Any = getattr(pulumi.output, "_OutputData", None)

SDK_FUNCTION = "transfer_properties"
"""The function of ``pulumi.runtime.rpc`` that makes a resource's property Outputs."""


class LazyOutput(Output[Any]):
    """An Output of a resource property, started on first use (see the module)."""

    def __init__(self, resource: Any) -> None:
        # Not Output.__init__, which would start a task now. Plain attributes, which Output's
        # __getattr__ (it lifts only names an Output lacks) never sees, kept in the instance's
        # shared-key values rather than a dict of its own; _data is a property here.
        self._resource = resource
        self._settled: tuple[Any, Any, bool, bool, Exception | None] | None = None
        self._data_future: asyncio.Future[Any] | None = None
        self._tracked = True

    def settle(self, value: Any, is_known: bool, is_secret: bool, deps: Any, failed: Exception | None) -> None:
        """The property's resolver: what the SDK's (``transfer_properties``' ``do_resolve``) resolves.

        Kept as given until something reads the Output: the SDK's union of ``deps`` and the resource
        is made then. ``deps`` is the set the SDK made for this registration's response, which it
        does not change afterwards."""
        settled = (deps, value, is_known, is_secret, failed)
        if self._data_future is None:
            self._settled = settled
        else:
            _settle(self._data_future, self._resource, settled)

    @property
    def _data(self) -> asyncio.Future[Any]:
        data = self._data_future
        if data is None:
            data = self._data_future = asyncio.get_event_loop().create_future()
            settled = self._settled
            if settled is not None:
                self._settled = None
                _settle(data, self._resource, settled)
            if self._tracked:
                Output._track(self)
        return data

    @_data.setter
    def _data(self, data: asyncio.Future[Any]) -> None:
        self._data_future = data

    def _untrack(self) -> None:
        # A derived Output takes over: if this one has not started, it never will be tracked.
        if self._data_future is None:
            self._tracked = False
        else:
            Output._untrack(self)


def _settle(
    data: asyncio.Future[Any], resource: Any, settled: tuple[Any, Any, bool, bool, Exception | None]
) -> None:
    # What do_resolve and Output.__init__'s task make of a resolution: the union of the property's
    # dependencies and its resource, then the data, or the registration's failure.
    deps, value, is_known, is_secret, failed = settled
    if failed is not None:
        data.set_exception(failed)
        return
    resources = set(deps) if deps else set()
    resources.add(resource)
    data.set_result(_OutputData(resources=resources, value=value, is_known=is_known, is_secret=is_secret))


def transfer_properties(res: Any, props: Any, custom: bool) -> dict[str, Any]:
    """``pulumi.runtime.rpc.transfer_properties``, each property a :class:`LazyOutput`."""
    resolvers: dict[str, Any] = {}
    for name in props:
        if name == "urn" or (name == "id" and custom):
            continue  # the SDK handles these elsewhere
        output = res.__dict__[name] = LazyOutput(res)
        resolvers[name] = output.settle
    return resolvers


def sdk_fits() -> bool:
    """Whether the SDK is the one this module mirrors: its function takes ``(res, props, custom)``,
    its Outputs keep their state in one ``_data`` future made from ``_OutputData``, tracked by
    ``_track`` and ``_untrack``."""
    original = getattr(rpc, SDK_FUNCTION, None)
    if not callable(original) or list(inspect.signature(original).parameters) != ["res", "props", "custom"]:
        return False
    fields = getattr(_OutputData, "__dataclass_fields__", {}) if _OutputData is not None else {}
    return {"resources", "value", "is_known", "is_secret"} <= set(fields) and all(
        callable(getattr(Output, name, None)) for name in ("_track", "_untrack", "_from_data")
    )
