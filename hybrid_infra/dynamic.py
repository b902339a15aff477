"""The base of the project's dynamic resources (the readiness and upgrade gates, the cluster record,
the version guard): :class:`pulumi.dynamic.Resource` that leaves Python's pickler as it found it.

``pulumi.dynamic.serialize_provider`` (SDK 3.272) sorts dictionaries while dill pickles a provider
by replacing ``_batch_setitems`` of Python's own pickler class (``pickle._Pickler``, which dill's
pickler extends) with a wrapper around whatever is there, and its ``save_dict``, and never puts
them back. Each dynamic resource registered in a process adds one wrapper more, so every dictionary
pickled afterwards goes one frame deeper per resource: a process that registers about a thousand (a
test suite, a benchmark, a program with many clusters) fails with ``RecursionError``. Registration
here restores both once the provider is serialized, which the SDK does inside the constructor.
"""

from __future__ import annotations

import pickle
from typing import Any

import pulumi
import pulumi.dynamic


class DynamicResource(pulumi.dynamic.Resource):
    """A dynamic resource whose registration leaves ``pickle._Pickler`` unchanged."""

    def __init__(
        self,
        provider: pulumi.dynamic.ResourceProvider,
        name: str,
        props: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ):
        pickler: Any = pickle._Pickler
        saved = pickler._batch_setitems, pickler.save_dict
        try:
            super().__init__(provider, name, props, opts)
        finally:
            pickler._batch_setitems, pickler.save_dict = saved
