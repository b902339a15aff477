"""Helpers for unit tests of programs built from hybrid-infra, on the simulated cloud.

Example::

    from hybrid_infra.testing import simulate

    def test_my_platform():
        result = simulate(my_program, stack="test", config={"hybrid-infra:cluster": {...}, ...})
        assert len(result.of_type("kubernetes:kubevirt.io/v1:VirtualMachine")) == 1
"""

from __future__ import annotations

from .offline.cloud import SimulatedCloud
from .offline.simulate import Resource, Secret, Simulation, Unknown, simulate

__all__ = ["Resource", "Secret", "SimulatedCloud", "Simulation", "Unknown", "simulate"]
