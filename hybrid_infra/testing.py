"""Helpers for unit tests of programs built from hybrid-infra, on the simulated cloud.

Either run a program with :func:`simulate`, which records every resource::

    from hybrid_infra.testing import simulate

    def test_my_platform():
        result = simulate(my_program, stack="test", config={"hybrid-infra:cluster": {...}, ...})
        assert len(result.of_type("kubernetes:kubevirt.io/v1:VirtualMachine")) == 1

or give :class:`SimulatedCloud` to Pulumi's own test recipe, in preview too::

    import pulumi
    from hybrid_infra.testing import SimulatedCloud

    pulumi.runtime.set_mocks(SimulatedCloud("test"), preview=False)

    @pulumi.runtime.test
    def test_endpoint():
        platform = HybridPlatform("test", spec)
        return platform.endpoint.apply(lambda address: assert_public(address))

A test gives the cloud answers of its own, for a provider or a look-up the cloud does not know or to
make one fail, through :meth:`SimulatedCloud.answer_call` and :meth:`SimulatedCloud.answer_resource`
(``simulate(..., answers=...)`` calls its function with the run's cloud)::

    from hybrid_infra.testing import LookupFailed, simulate

    def no_image(args):
        raise LookupFailed(f"no image named {args['name']!r}")

    result = simulate(my_program, stack="test", config=config,
                      answers=lambda cloud: cloud.answer_call(IMAGE_LOOK_UP_TOKEN, no_image))

Mocks that return only a resource's inputs cannot run the components, which build on what the
providers compute (keys, certificates, addresses): they stop with :class:`MissingComputedOutput`,
whose message names the simulated cloud. Under any mocks nothing is fetched from the network: a
release manifest given by URL is recorded as pinned, not expanded.

Both ways run on the Pulumi SDK as it ships, with Python's collector as the test left it: importing
this module changes nothing, and neither does :func:`simulate`. :data:`offline_runtime`, the runtime
``hybrid-infra plan`` runs on, is an opt-in that makes large programs run sooner and with less
memory, and records the same resources (the project's tests compare the plans it writes, byte for
byte). It is process-wide while it is on: it pauses the collector (objects left in reference cycles
wait until it ends), replaces a few functions of the SDK (property Outputs made when read, unknowns
found without cycles, no stack trace per registration) and loads provider SDK modules as they are
used. Turn it on around a block::

    from hybrid_infra.testing import offline_runtime, simulate

    def test_large_platform():
        with offline_runtime():
            result = simulate(my_program, stack="test", config=config)

or for each :func:`simulate` run, while it lasts, for a whole session (in ``conftest.py``)::

    @pytest.fixture(scope="session", autouse=True)
    def offline_runs():
        with offline_runtime.each_run():
            yield
"""

from __future__ import annotations

from .offline.cloud import SimulatedCloud
from .offline.simulate import Resource, Secret, Simulation, Unknown, offline_runtime, simulate
from .outputs import MissingComputedOutput
from .platforms.contract import LookupFailed

__all__ = [
    "LookupFailed",
    "MissingComputedOutput",
    "Resource",
    "Secret",
    "SimulatedCloud",
    "Simulation",
    "Unknown",
    "offline_runtime",
    "simulate",
]
