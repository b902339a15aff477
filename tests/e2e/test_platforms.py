"""The first control-plane node of a stack on another platform, booted in the emulator from its own
cloud-config: the platform's endpoint (a load balancer named in DNS) and the provider ID the node
takes from the cloud's instance data, with the real kubeadm and API server."""

from __future__ import annotations

import json

import pytest

from tests.e2e.emulator import Cluster
from tests.e2e.test_control_plane import BOOTSTRAPPED, plan_of

pytestmark = pytest.mark.e2e


def test_the_first_aws_control_plane_node_initialises_behind_its_named_load_balancer(tmp_path_factory):
    emulated = Cluster("aws", tmp_path_factory.mktemp("aws"), plan_of)
    try:
        name = emulated.control_plane[0]
        assert emulated.boot(name).wait_for(BOOTSTRAPPED, 420), emulated.logs()
        emulated.wait_until_ready(90)
        assert emulated.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"
        node = json.loads(emulated.kubectl("get", "node", name, "-o", "json").stdout)
        metadata = emulated.instance_data[name]["v1"]
        # The ID the node filled in from its instance data, which the cloud controller looks nodes up by.
        assert node["spec"]["providerID"] == f"aws:///{metadata['availability_zone']}/{metadata['instance_id']}"
    finally:
        emulated.close()
