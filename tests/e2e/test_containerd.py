"""containerd 2 itself reads the configuration every node gets (``containerd config dump``).

``config dump`` fails only on bad TOML or a version it does not know; an unknown key is a warning on
stderr and a missing file dumps the defaults. So the test also refuses any warning and looks up, in
what containerd parsed, each value the node needs."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from hybrid_infra.bootstrap.cloudinit import CONTAINERD_CONFIG
from hybrid_infra.bootstrap.kubeadm import PAUSE_VERSIONS
from hybrid_infra.config.cluster import CONTAINERD_VERSION
from hybrid_infra.config.fields import DEFAULT_KUBERNETES_VERSION
from tests.e2e.conftest import node_files, stacks, tool

pytestmark = pytest.mark.e2e


# Version 3 is read by every containerd 2; 2.3 and later say they migrated it, and nothing else.
MIGRATED = "Configuration migrated from version 3"


def unexpected(stderr: str) -> list[str]:
    """What containerd said besides the migration notice: unknown keys, errors."""
    return [line for line in stderr.splitlines() if line.strip() and MIGRATED not in line]


def dump(path: Path) -> tuple[dict, str]:
    assert path.is_file()
    result = subprocess.run([tool("containerd"), "--config", str(path), "config", "dump"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout), result.stderr


def test_the_tools_build_containerd_of_the_nodes_line():
    shown = subprocess.run([tool("containerd"), "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout.split()[2].removeprefix("v").startswith(f"{CONTAINERD_VERSION}.")


@pytest.mark.parametrize("stack", stacks())
def test_containerd_reads_every_nodes_configuration(stack, tmp_path):
    minor = ".".join(DEFAULT_KUBERNETES_VERSION.split(".")[:2])
    for node, files in node_files(stack).items():
        path = tmp_path / f"{node}.toml"
        path.write_text(files[CONTAINERD_CONFIG])
        parsed, warnings = dump(path)
        assert not unexpected(warnings), f"{node}: {warnings}"
        plugins = parsed["plugins"]
        images, runtime = plugins["io.containerd.cri.v1.images"], plugins["io.containerd.cri.v1.runtime"]
        assert images["pinned_images"]["sandbox"].endswith(f"/pause:{PAUSE_VERSIONS[minor]}"), node
        assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
        runc = runtime["containerd"]["runtimes"]["runc"]
        assert runtime["containerd"]["default_runtime_name"] == "runc"
        assert runc["runtime_type"] == "io.containerd.runc.v2" and runc["options"]["SystemdCgroup"] is True


def test_the_check_sees_a_misspelt_key(tmp_path):
    """What the check refuses: a key containerd does not know (ignored, and a warning) and a misspelt one."""
    text = node_files("dev")["dev-cp-0"][CONTAINERD_CONFIG].replace("SystemdCgroup", "SystemdCgroups")
    path = tmp_path / "config.toml"
    path.write_text(text)
    parsed, warnings = dump(path)
    runc = parsed["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
    assert runc["options"].get("SystemdCgroup") is not True
    (path.parent / "misplaced.toml").write_text(text.replace("[plugins.'io.containerd.cri.v1.images']", "[images]"))
    assert unexpected(dump(path.parent / "misplaced.toml")[1])
