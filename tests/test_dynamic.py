"""The project's dynamic resources leave Python's pickler as they found it (hybrid_infra/dynamic.py):
the Pulumi SDK wraps ``pickle._Pickler._batch_setitems`` once more at every dynamic resource it
serializes, which would make a long process fail with RecursionError."""

from __future__ import annotations

import pickle

from hybrid_infra.offline.plan import run_plan
from tests.conftest import STACKS


def test_a_plan_leaves_the_pickler_as_it_found_it():
    pickler = pickle._Pickler
    before = pickler._batch_setitems, pickler.save_dict
    result = run_plan(STACKS, "dev")
    dynamic = [r for r in result.simulation.resources if r.type.startswith("pulumi-python:dynamic:")]
    # The readiness gate, the cluster record, the version guard: each serialized its provider.
    assert len(dynamic) >= 3, [r.type for r in dynamic]
    assert (pickler._batch_setitems, pickler.save_dict) == before
