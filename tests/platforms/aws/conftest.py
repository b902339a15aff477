from __future__ import annotations

import copy
from typing import Any

import pytest

from hybrid_infra.offline.plan import load_stack
from hybrid_infra.offline.simulate import Simulation
from hybrid_infra.platform import program
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.testing import simulate
from tests.conftest import STACKS, secret_keys

INSTANCE = "aws:ec2/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"


def load_aws_config() -> dict[str, Any]:
    """The aws stack's config as the plan sees it."""
    return copy.deepcopy(load_stack(STACKS, "aws").values)


@pytest.fixture
def aws_config() -> dict[str, Any]:
    """The aws stack's config, a fresh copy to change in a test."""
    return load_aws_config()


def run(config: dict[str, Any], preview: bool = False) -> Simulation:
    return simulate(
        program, stack="aws", config=config, secret_keys=secret_keys(config), spec=parse_stack_config(config), preview=preview
    )


def instances(result: Simulation) -> dict[str, dict[str, Any]]:
    return {r.inputs["tags"]["Name"]: r.inputs for r in result.of_type(INSTANCE)}


@pytest.fixture(scope="package")
def aws_stack() -> Simulation:
    """The aws stack run as `pulumi up` on the simulated cloud."""
    return run(load_aws_config())
