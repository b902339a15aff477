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

Mocks that return only a resource's inputs cannot run the components, which build on what the
providers compute (keys, certificates, addresses): they stop with :class:`MissingComputedOutput`,
whose message names the simulated cloud. Under any mocks nothing is fetched from the network: a
release manifest given by URL is recorded as pinned, not expanded.
"""

from __future__ import annotations

from .offline.cloud import SimulatedCloud
from .offline.simulate import Resource, Secret, Simulation, Unknown, simulate
from .outputs import MissingComputedOutput

__all__ = ["MissingComputedOutput", "Resource", "Secret", "SimulatedCloud", "Simulation", "Unknown", "simulate"]
