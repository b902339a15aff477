"""A cloud-config over what the platform passes to a VM: one line per pool, before the cluster registers anything."""

from __future__ import annotations

import base64
import copy
import os
import re
from typing import Any

import pulumi
import pytest

from hybrid_infra.bootstrap.cloudinit import NodeBootstrap, render_cloud_config
from hybrid_infra.config import ConfigError
from hybrid_infra.config.errors import ConfigRunError
from hybrid_infra.platform import program
from hybrid_infra.platforms.aws.nodes import EC2_MAX_USER_DATA, compressed_user_data
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.testing import simulate
from hybrid_infra.topology import NodeGroup, PlatformHints
from tests.conftest import secret_keys, write_stack
from tests.test_bootstrap import ENDPOINT, PKI
from tests.test_cli import cli

MIRRORS = 440
"""Registry mirrors that take every dev node (about 95 bytes each in every cloud-config) past Nova's 49151 bytes."""
SIZE = r"\d+"


def oversized(config: dict[str, Any], mirrors: int = MIRRORS, key_algorithm: str = "rsa-4096") -> dict[str, Any]:
    config = copy.deepcopy(config)
    cluster = config["hybrid-infra:cluster"]
    cluster["registryMirrors"] = {"docker.io": [f"https://mirror-{i}.registry.example.com" for i in range(mirrors)]}
    cluster["pki"] = {"keyAlgorithm": key_algorithm}
    return config


def expected_lines(prefix: str = "") -> list[str]:
    """The three pools of dev, each once: the control plane also told of its keys."""
    over = rf"its cloud-config is {SIZE} bytes, over the 49151 bytes of user data the platform accepts"
    mirrors = r"list fewer mirrors in cluster\.registryMirrors"
    return [
        rf"{prefix}cluster\.controlPlane: {over}; {mirrors}, or use cluster\.pki\.keyAlgorithm: ecdsa-p256 \(smaller keys\)",
        rf"{prefix}cluster\.pools\[0\]: pool 'general': {over}; {mirrors}",
        rf"{prefix}cluster\.pools\[1\]: pool 'virt': {over}; {mirrors}",
    ]


def matches(lines: list[str], patterns: list[str]) -> bool:
    return len(lines) == len(patterns) and all(re.fullmatch(p, line) for p, line in zip(patterns, lines, strict=True))


def test_plan_names_each_pool_whose_cloud_config_is_too_large_once_and_writes_nothing(tmp_path, dev_config):
    write_stack(tmp_path / "stacks", "big", oversized(dev_config))
    result = cli("plan", "big", cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert matches(lines, expected_lines(r"stacks/Pulumi\.big\.yaml: ")), lines
    assert not (tmp_path / "build").exists()


def test_only_the_pools_over_the_limit_are_named(tmp_path, dev_config):
    # ECDSA keys and 400 mirrors: the control plane (its keys and both kubeadm files) is over, workers are not.
    write_stack(tmp_path / "stacks", "cp", oversized(dev_config, mirrors=400, key_algorithm="ecdsa-p256"))
    result = cli("plan", "cp", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert re.fullmatch(
        rf"stacks/Pulumi\.cp\.yaml: cluster\.controlPlane: its cloud-config is {SIZE} bytes, over the 49151 bytes "
        r"of user data the platform accepts; list fewer mirrors in cluster\.registryMirrors",
        line,
    ), line
    assert not (tmp_path / "out").exists()


def test_pulumi_up_stops_with_the_lines_before_the_cluster_registers_anything(dev_config):
    config = oversized(dev_config)
    stopped: list[BaseException] = []

    def up() -> None:
        try:
            program()
        except pulumi.RunError as error:
            stopped.append(error)

    result = simulate(up, stack="dev", config=config, secret_keys=secret_keys(config))
    [error] = stopped
    first, *lines = str(error).splitlines()
    assert first == "invalid stack configuration:"
    assert matches(lines, expected_lines()), lines
    registered = {r.type for r in result.resources}
    assert "hybrid-infra:index:KubernetesCluster" not in registered
    assert not [t for t in registered if t.startswith(("tls:", "random:", "openstack:compute"))], registered


def test_the_rendering_itself_names_the_pool_when_its_cloud_config_is_too_large(dev_config):
    """What the check up front cannot know (a longer endpoint name than it assumed) stops the rendering alike."""
    cluster = parse_stack_config(oversized(dev_config, mirrors=0, key_algorithm="ecdsa-p256")).cluster
    group = NodeGroup.workers(cluster, cluster.pools[1])
    small = PlatformHints(cloud_provider_external=True, max_user_data=4096)
    with pytest.raises(ConfigError) as caught:
        render_cloud_config(NodeBootstrap(cluster, group, 0, ENDPOINT, small), PKI)
    [line] = caught.value.problems
    assert re.fullmatch(
        rf"cluster\.pools\[1\]: pool 'virt': its cloud-config is {SIZE} bytes, over the 4096 bytes of user data "
        r"the platform accepts; shorten what its nodes carry \(labels, taints, repositories\)",
        line,
    ), line


def test_ec2_user_data_over_its_limit_compressed_names_the_pool(dev_config):
    cluster = parse_stack_config(dev_config).cluster
    noise = base64.b64encode(os.urandom(EC2_MAX_USER_DATA)).decode()  # does not compress to 16 KB
    with pytest.raises(ConfigRunError) as caught:
        compressed_user_data(NodeGroup.workers(cluster, cluster.pools[0]), "dev-general-2", noise)
    # Raised in an apply, it must reach the engine as a RunError, not a ValueError the SDK would wrap.
    assert not isinstance(caught.value, ValueError)
    [line] = caught.value.problems
    assert re.fullmatch(
        rf"cluster\.pools: pool 'general': node dev-general-2's cloud-config is {SIZE} bytes gzip-compressed, over the "
        r"16384 bytes of user data EC2 takes; list fewer mirrors in cluster\.registryMirrors",
        line,
    ), line


def test_what_the_check_up_front_cannot_foresee_stops_pulumi_up_and_plan_on_the_pools_line(monkeypatch, dev_config):
    """A cloud-config that grows past the limit only with the real endpoint's addresses (an AWS load
    balancer's DNS name is longer than the stand-in): the rendering in the apply stops the run, on the
    pool's line: a RunError, which `pulumi up` reports as it is and `hybrid-infra plan` as a ConfigError's lines."""
    import hybrid_infra.cluster

    monkeypatch.setattr(hybrid_infra.cluster, "user_data_problems", lambda cluster, hints: [], raising=False)
    config = oversized(dev_config, key_algorithm="ecdsa-p256")
    with pytest.raises(pulumi.RunError) as caught:
        simulate(program, stack="dev", config=config, secret_keys=secret_keys(config))
    assert isinstance(caught.value, ConfigRunError) and not isinstance(caught.value, ValueError)
    first, line = str(caught.value).splitlines()
    assert first == "invalid stack configuration:"
    assert re.fullmatch(
        rf"cluster\.(controlPlane|pools\[0\]: pool 'general'|pools\[1\]: pool 'virt'): its cloud-config is {SIZE} bytes, "
        r"over the 49151 bytes of user data the platform accepts; list fewer mirrors in cluster\.registryMirrors",
        line,
    ), line
