"""kubeadm itself, at the project's default version, reads every node's configuration on every stack."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from hybrid_infra.bootstrap.cloudinit import KUBEADM_CONFIGS, KUBEADM_CREDENTIALS_CONFIG
from hybrid_infra.config.fields import DEFAULT_KUBERNETES_VERSION
from tests.e2e.conftest import node_files, stacks, tool

pytestmark = pytest.mark.e2e

CONFIGS = sorted({*KUBEADM_CONFIGS.values(), KUBEADM_CREDENTIALS_CONFIG})


def test_the_tools_build_the_default_kubernetes_version():
    shown = subprocess.run([tool("kubeadm"), "version", "-o", "short"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == f"v{DEFAULT_KUBERNETES_VERSION}"


def kubeadm_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("kubeadm"), "config", "validate", "--config", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("stack", stacks())
def test_kubeadm_accepts_every_nodes_configuration(stack, tmp_path):
    checked = 0
    for node, files in node_files(stack).items():
        for path in CONFIGS:
            if path not in files:
                continue
            written = tmp_path / node / Path(path).name
            written.parent.mkdir(parents=True, exist_ok=True)
            written.write_text(files[path])
            result = kubeadm_validate(written)
            assert result.returncode == 0, f"{node} {path}: {result.stderr}"
            assert "ok" in result.stdout
            checked += 1
    assert checked >= len(node_files(stack))


def test_kubeadm_refuses_a_configuration_it_cannot_use(tmp_path):
    """The check can fail: a node's own configuration with one field kubeadm does not know."""
    files = node_files("dev")["dev-cp-0"]
    documents = list(yaml.safe_load_all(files[KUBEADM_CONFIGS["init"]]))
    documents[0]["nodeRegistration"]["criSockett"] = "unix:///run/containerd/containerd.sock"
    path = tmp_path / "init.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    result = kubeadm_validate(path)
    assert result.returncode != 0 and "criSockett" in result.stderr


def test_the_tools_build_the_etcd_kubeadm_runs_for_that_version():
    images = subprocess.run([tool("kubeadm"), "config", "images", "list"], capture_output=True, text=True, check=True)
    (etcd_image,) = [image for image in images.stdout.split() if "/etcd:" in image]
    pinned = etcd_image.rsplit(":", 1)[1].split("-")[0]
    for program in ("etcd", "etcdctl", "etcdutl"):
        shown = subprocess.run([tool(program), "version" if program != "etcd" else "--version"], capture_output=True, text=True, check=True)
        assert f"version: {pinned}" in shown.stdout.lower(), (program, shown.stdout)
