"""Users' own unit tests, written as Pulumi's testing guide shows them, run as a user runs them.

Each file below is a user's test module: ``pulumi.runtime.set_mocks`` at the top, then
``@pulumi.runtime.test`` functions that build the components. It runs in its own pytest process,
and the outcome of each of its tests is read from pytest's JUnit report.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hybrid_infra.outputs import SIMULATED_CLOUD_HINT
from tests.conftest import ROOT, STACKS

PROGRAM = f'''
import ipaddress
from pathlib import Path

import pulumi
import pytest
import yaml

from hybrid_infra import HybridPlatform, KubernetesCluster, parse_stack_config
from hybrid_infra.platforms.openstack import OpenStackInfrastructure


def spec(**addons):
    config = yaml.safe_load(Path({str(STACKS / "Pulumi.dev.yaml")!r}).read_text())["config"]
    config["hybrid-infra:openstack"]["cloudProvider"]["applicationCredentialSecret"] = "an-application-credential"
    config["hybrid-infra:addons"] = addons
    return parse_stack_config(config)


def platform(**addons):
    return HybridPlatform("dev", spec(**addons), base_dir=Path(__file__).parent)


def cluster():
    stack = spec()
    return KubernetesCluster("dev", stack.cluster, OpenStackInfrastructure("dev", stack.cluster, stack.sections["openstack"]))
'''

SIMULATED = '''
from hybrid_infra.testing import SimulatedCloud

pulumi.runtime.set_mocks(SimulatedCloud("test"), preview=False)


@pulumi.runtime.test
def test_platform():
    built = platform()

    def check(args):
        endpoint, nodes, kubeconfig = args
        assert ipaddress.ip_address(endpoint)
        assert len(nodes) == 8 and all(ipaddress.ip_address(node["address"]) for node in nodes)
        assert f"server: https://{endpoint}:6443" in kubeconfig

    return pulumi.Output.all(built.endpoint, built.nodes, built.kubeconfig).apply(check)


@pulumi.runtime.test
def test_platform_in_preview():
    pulumi.runtime.set_mocks(SimulatedCloud("test"), preview=True)

    def known_before_creation(endpoint):
        raise AssertionError(f"a preview cannot know the endpoint's address, yet it is {endpoint}")

    return platform().endpoint.apply(known_before_creation)
'''

ECHO = '''
import socket

NETWORK_USED = []


def no_network(*args, **kwargs):
    """A unit test must not reach the network: any attempt is recorded and refused."""
    NETWORK_USED.append(args)
    raise OSError("a unit test opened a network connection")


socket.socket.connect = socket.socket.connect_ex = no_network
socket.create_connection = socket.getaddrinfo = no_network


class EchoMocks(pulumi.runtime.Mocks):
    """The mocks of Pulumi's testing guide: every resource's outputs are its inputs."""

    def new_resource(self, args):
        return [args.name + "_id", args.inputs]

    def call(self, args):
        return args.args


pulumi.runtime.set_mocks(EchoMocks(), preview=False)

MANIFEST = "apiVersion: v1\\nkind: Namespace\\nmetadata:\\n  name: {}\\n"


@pulumi.runtime.test
def test_cluster():
    return cluster().kubeconfig


@pulumi.runtime.test
def test_platform():
    # Pinned manifests as local files (an air-gapped site's), so that nothing is fetched.
    folder = Path(__file__).parent
    manifests = {}
    for component in ("kubevirt", "cdi", "system-upgrade"):
        (folder / f"{component}.yaml").write_text(MANIFEST.format(component))
        manifests[component] = {"file": f"{component}.yaml"}
    built = platform(
        kubevirt={"operatorManifest": manifests["kubevirt"]},
        cdi={"operatorManifest": manifests["cdi"]},
        systemUpgrade={"manifest": manifests["system-upgrade"]},
    )
    return built.endpoint


@pulumi.runtime.test
def test_platform_with_release_manifests_from_their_urls():
    # The stack's KubeVirt, CDI and system-upgrade-controller manifests are release assets.
    built = platform()
    return built.endpoint


def test_nothing_reached_the_network():
    # After the tests above, in the module's order: none of them tried to connect anywhere.
    assert NETWORK_USED == []


@pulumi.runtime.test
def test_cluster_in_preview():
    pulumi.runtime.set_mocks(EchoMocks(), preview=True)
    return cluster().kubeconfig
'''


RUNTIME = '''
import gc
import sys

import pulumi.runtime.resource
from pulumi.runtime import rpc

from hybrid_infra.testing import SimulatedCloud, simulate


def changed():
    """What differs from the Pulumi SDK as it ships: the offline runtime's changes, if any."""
    found = [
        name
        for module, name in ((rpc, "transfer_properties"), (rpc, "contains_unknowns"), (pulumi.runtime.resource, "_get_stack_trace"))
        if getattr(module, name).__module__ != module.__name__
    ]
    if not gc.isenabled():
        found.append("collector paused")
    found += [type(finder).__name__ for finder in sys.meta_path if type(finder).__module__.startswith("hybrid_infra")]
    return found


def observed_run():
    seen = []

    def program():
        seen.append(changed())
        platform()

    result = simulate(program, stack="dev", config={})
    assert len(result.of_type("hybrid-infra:index:HybridPlatform")) == 1
    return seen[0]


@pulumi.runtime.test
def test_pulumis_recipe_runs_on_the_sdk_as_shipped():
    pulumi.runtime.set_mocks(SimulatedCloud("test"), preview=False)
    assert changed() == []
    return platform().endpoint


def test_simulate_runs_on_the_sdk_as_shipped():
    assert observed_run() == []
    assert changed() == []


def test_the_offline_runtime_is_an_opt_in_for_the_block():
    from hybrid_infra.testing import offline_runtime

    with offline_runtime():
        assert observed_run() == ["transfer_properties", "contains_unknowns", "_get_stack_trace", "collector paused", "Finder"]
    assert changed() == []


def test_or_for_each_run_in_the_block():
    from hybrid_infra.testing import offline_runtime

    with offline_runtime.each_run():
        assert changed() == []
        assert "collector paused" in observed_run()
        assert changed() == []
    assert observed_run() == []
'''


def run_user_tests(tmp_path: Path, name: str, body: str) -> dict[str, str | None]:
    """Each test's failure text (None when it passed), from a pytest run of the user's module."""
    module = tmp_path / f"test_{name}.py"
    module.write_text(PROGRAM + body)
    report = tmp_path / f"{name}.xml"
    subprocess.run(
        # Python's own tracebacks: pytest's, which parse the source of every frame, trip over CPython 3.11.7's
        # "AST constructor recursion depth mismatch" after Pulumi's nested event loop now and then.
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=native", f"--junitxml={report}"]
        + [str(module)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        outcomes[case.get("name", "")] = None if failure is None else f"{failure.get('message')}\n{failure.text}"
    return outcomes


def test_simulated_cloud_runs_the_platform_in_pulumis_own_recipe_preview_included(tmp_path):
    assert run_user_tests(tmp_path, "simulated", SIMULATED) == {"test_platform": None, "test_platform_in_preview": None}


def test_users_tests_run_on_the_sdk_as_shipped_unless_they_opt_in(tmp_path):
    """As Pulumi's recipe does, simulate() leaves the SDK and the collector as they are; the offline
    runtime (what `hybrid-infra plan` runs on) is the test's choice, for a block or for each run."""
    assert run_user_tests(tmp_path, "runtime", RUNTIME) == {
        "test_pulumis_recipe_runs_on_the_sdk_as_shipped": None,
        "test_simulate_runs_on_the_sdk_as_shipped": None,
        "test_the_offline_runtime_is_an_opt_in_for_the_block": None,
        "test_or_for_each_run_in_the_block": None,
    }


@pytest.fixture(scope="module")
def echo_outcomes(tmp_path_factory) -> dict[str, str | None]:
    return run_user_tests(tmp_path_factory.mktemp("echo"), "echo", ECHO)


@pytest.mark.parametrize("test", ["test_cluster", "test_platform", "test_platform_with_release_manifests_from_their_urls"])
def test_echo_mocks_stop_at_once_with_one_message_naming_the_simulated_cloud(echo_outcomes, test):
    failure = echo_outcomes[test]
    assert failure is not None
    message, _, trace = failure.partition("\n")
    assert message == f"hybrid_infra.outputs.MissingComputedOutput: {SIMULATED_CLOUD_HINT}"
    assert "hybrid_infra.testing.SimulatedCloud" in message
    assert 'pulumi.runtime.set_mocks(SimulatedCloud("test"), preview=False)' in message
    # Every failure the run chained is that one: nothing else failed deep inside an apply.
    raised = {match.group(1) for match in re.finditer(r"^([A-Za-z_][\w.]*): ", trace, re.M)}
    assert raised == {"hybrid_infra.outputs.MissingComputedOutput"}


def test_echo_mocks_open_no_network_connection(echo_outcomes):
    assert echo_outcomes["test_nothing_reached_the_network"] is None


def test_echo_mocks_preview_needs_no_computed_output(echo_outcomes):
    assert echo_outcomes["test_cluster_in_preview"] is None
