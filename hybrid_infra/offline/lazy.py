"""Resource properties whose Outputs start working only when the program uses them.

For every property a resource class declares, inputs and outputs alike, the SDK's
``pulumi.runtime.rpc.transfer_properties`` makes an Output at once: a task that awaits four
futures, tracked until it completes. A typed provider class declares all its properties (a
virtual machine's class some seventy), and a program reads a few, so most of these tasks run for
nothing: at 1000 nodes they are most of the Outputs a plan makes, and much of its time and memory.

:func:`transfer_properties` does what the SDK's does, with one difference: each property is a
:class:`LazyOutput`, which holds the same four futures (resolved by the same resolvers when the
resource is registered) and starts the task, and its tracking, only when something reads the
Output. An Output nobody reads costs its futures alone. The offline runner installs it while a
simulation runs (:data:`hybrid_infra.offline.simulate.offline_runtime`) where the SDK has the
shape it was written against (:func:`sdk_fits`); ``tests/test_offline_runtime.py`` fails when the
SDK moves.
"""

from __future__ import annotations

import asyncio
import functools
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

    def __init__(
        self,
        resources: asyncio.Future[set[Any]],
        value: asyncio.Future[Any],
        known: asyncio.Future[bool],
        secret: asyncio.Future[bool],
    ) -> None:
        # Not Output.__init__, which would start the task now. Set through __dict__: Output lifts
        # unknown attribute names (__getattr__), and _data is a property here.
        self.__dict__["_parts"] = (resources, value, known, secret)
        self.__dict__["_started"] = None
        self.__dict__["_tracked"] = True

    @property
    def _data(self) -> asyncio.Future[Any]:
        started = self.__dict__["_started"]
        if started is None:
            resources, value, known, secret = self.__dict__["_parts"]

            async def compute_data() -> Any:
                # As Output.__init__ computes it.
                return _OutputData(resources=await resources, value=await value, is_known=await known, is_secret=await secret)

            started = self.__dict__["_started"] = asyncio.ensure_future(compute_data())
            if self.__dict__["_tracked"]:
                Output._track(self)
        return started

    @_data.setter
    def _data(self, data: asyncio.Future[Any]) -> None:
        self.__dict__["_started"] = data

    def _untrack(self) -> None:
        # A derived Output takes over: if this one has not started, it never will be tracked.
        if self.__dict__["_started"] is None:
            self.__dict__["_tracked"] = False
        else:
            Output._untrack(self)


def _resolve(
    resource: Any,
    value_future: asyncio.Future[Any],
    known_future: asyncio.Future[bool],
    secret_future: asyncio.Future[bool],
    resources_future: asyncio.Future[set[Any]],
    value: Any,
    is_known: bool,
    is_secret: bool,
    deps: set[Any],
    failed: Exception | None,
) -> None:
    # The SDK's resolver (transfer_properties' do_resolve), unchanged.
    resources = set(deps) if deps else set()
    resources.add(resource)
    resources_future.set_result(resources)
    if failed is not None:
        for future in (value_future, known_future, secret_future):
            future.set_exception(failed)
            # The registration's failure is reported with the registration; an Output nobody
            # started must not report it again when it is collected.
            future.exception()
    else:
        value_future.set_result(value)
        known_future.set_result(is_known)
        secret_future.set_result(is_secret)


def transfer_properties(res: Any, props: Any, custom: bool) -> dict[str, Any]:
    """``pulumi.runtime.rpc.transfer_properties``, each property a :class:`LazyOutput`."""
    resolvers: dict[str, Any] = {}
    for name in props:
        if name == "urn" or (name == "id" and custom):
            continue  # the SDK handles these elsewhere
        value: asyncio.Future[Any] = asyncio.Future()
        known: asyncio.Future[bool] = asyncio.Future()
        secret: asyncio.Future[bool] = asyncio.Future()
        resources: asyncio.Future[set[Any]] = asyncio.Future()
        resolvers[name] = functools.partial(_resolve, res, value, known, secret, resources)
        res.__dict__[name] = LazyOutput(resources, value, known, secret)
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
