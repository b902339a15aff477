"""``hybrid-infra lock``: every artifact ``pulumi up`` fetches, locked by the digest computed here.

The artifacts are served from 127.0.0.1 by the test (release manifests, a chart repository's
index.yaml and archives built here); nothing reaches past the loopback.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_infra import lockfile
from hybrid_infra.addons import helm, manifests
from hybrid_infra.addons.manifests import PinnedManifest, read_manifest
from hybrid_infra.addons.multus import release_image
from hybrid_infra.config.addons import ChartSpec, ManifestSource
from hybrid_infra.config.errors import ConfigError
from hybrid_infra.lockfile import Ledger, LockEntry, LockFileError, load_lock, recording, resolve_reference
from hybrid_infra.offline.plan import run_plan
from tests.conftest import STACKS, write_stack

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Server:
    """Files served over HTTP on the loopback, by path; change them between requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.url = ""


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            body = served.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield served
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def chart_archive(name: str, version: str) -> bytes:
    """A packaged chart, as `helm package` writes one: ``<name>/Chart.yaml`` in a gzipped tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode()
        info = tarfile.TarInfo(f"{name}/Chart.yaml")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def config_map(name: str) -> bytes:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\ndata: {{a: b}}\n".encode()


MULTUS = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: multus, namespace: kube-system}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-multus-ds, namespace: kube-system}
spec:
  selector: {matchLabels: {name: multus}}
  template:
    metadata: {labels: {name: multus}}
    spec:
      initContainers:
      - name: install-multus-binary
        image: ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick
        resources: {requests: {cpu: 10m, memory: 15Mi}}
      containers:
      - name: kube-multus
        image: ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick
        resources:
          requests: {cpu: 100m, memory: 50Mi}
          limits: {cpu: 100m, memory: 50Mi}
"""
"""The shape of deployments/multus-daemonset-thick.yml at v4.3.0 (its DaemonSet's containers and resources)."""


class Project:
    """A project directory whose dev stack fetches everything from the test's server."""

    def __init__(self, root: Path, served: Server):
        self.root = root
        self.served = served
        self.stacks = root / "stacks"
        self.lock = self.stacks / "dev.lock.yaml"
        self.keys: list[str] = []
        """Every artifact's key, as the program registers them."""

    def serve(self, path: str, data: bytes) -> str:
        self.served.files[path] = data
        return self.served.url + path

    def url(self, path: str) -> str:
        return self.served.url + path


@pytest.fixture
def project(tmp_path, server, dev_config) -> Project:
    project = Project(tmp_path, server)
    for name in ("kubevirt-operator", "cdi-operator", "system-upgrade-controller"):
        project.serve(f"/{name}.yaml", config_map(name))
    archives = {
        "cilium-1.20.2": chart_archive("cilium", "1.20.2"),
        "occm": chart_archive("openstack-cloud-controller-manager", "2.35.0"),
        "cinder": chart_archive("openstack-cinder-csi", "2.35.0"),
    }
    project.serve("/helm/charts/cilium-1.20.2.tgz", archives["cilium-1.20.2"])
    project.serve("/helm/charts/cilium-1.20.1.tgz", chart_archive("cilium", "1.20.1"))
    project.serve("/helm/occm.tgz", archives["occm"])
    project.serve("/elsewhere/cinder.tgz", archives["cinder"])
    index = {
        "apiVersion": "v1",
        "entries": {
            # Relative URLs resolve against the repository's URL; the right version is picked.
            "cilium": [
                {"version": "1.20.2", "urls": ["charts/cilium-1.20.2.tgz"], "digest": sha256(archives["cilium-1.20.2"])},
                {"version": "1.20.1", "urls": ["charts/cilium-1.20.1.tgz"]},
            ],
            "openstack-cloud-controller-manager": [{"version": "2.35.0", "urls": ["occm.tgz"]}],
            # An absolute URL stays as it is; a leading v matches the version as Helm's constraint does.
            "openstack-cinder-csi": [{"version": "v2.35.0", "urls": [project.url("/elsewhere/cinder.tgz")]}],
        },
    }
    project.serve("/helm/index.yaml", yaml.safe_dump(index).encode())
    (tmp_path / "multus.yaml").write_text(MULTUS)
    dev_config["hybrid-infra:addons"] = {
        "charts": {"cilium": {"repository": project.url("/helm"), "version": "1.20.2"}},
        "kubevirt": {"operatorManifest": {"url": project.url("/kubevirt-operator.yaml")}},
        "cdi": {"operatorManifest": {"url": project.url("/cdi-operator.yaml")}},
        "systemUpgrade": {"manifest": {"url": project.url("/system-upgrade-controller.yaml")}},
        "multus": {"enabled": True, "manifest": {"file": "multus.yaml"}},
    }
    dev_config["hybrid-infra:openstack"]["charts"] = {
        "cloudControllerManager": {"repository": project.url("/helm/"), "version": "2.35.0"},
        "cinderCsi": {"repository": project.url("/helm/"), "version": "2.35.0"},
    }
    write_stack(project.stacks, "dev", dev_config)
    # Any other manifest the program fetches (an add-on this test does not know) from the server too.
    for artifact in run_plan(project.stacks, "dev", locked=False).artifacts:
        if artifact.kind == "manifest" and artifact.url and not artifact.url.startswith(server.url):
            data = config_map(artifact.key.replace(".", "-").lower())
            url = project.serve(f"/extra/{artifact.key}.yaml", data)
            set_key(dev_config, artifact.key, {"url": url, "sha256": sha256(data)})
    write_stack(project.stacks, "dev", dev_config)
    artifacts = run_plan(project.stacks, "dev", locked=False).artifacts
    project.keys = sorted(artifact.key for artifact in artifacts)
    served = [(artifact.url or artifact.repository or server.url).startswith(server.url) for artifact in artifacts]
    assert all(served), "an artifact the test does not serve"
    return project


def set_key(config: dict[str, Any], key: str, value: dict[str, Any]) -> None:
    """Set the stack's ``key`` (``addons.kubevirt.operatorManifest``) to ``value``."""
    section, *path = key.split(".")
    target = config.setdefault(f"hybrid-infra:{section}", {})
    for name in path:
        target = target.setdefault(name, {})
    target.clear()
    target.update(value)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Nothing through a proxy: the server is on the loopback.
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    return subprocess.run(
        [sys.executable, "-m", "hybrid_infra", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def locked(project: Project) -> dict[str, Any]:
    result = cli("lock", "dev", cwd=project.root)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(project.lock.read_text())


EXPECTED_KEYS = [
    "addons.cdi.operatorManifest",
    "addons.charts.cilium",
    "addons.kubevirt.operatorManifest",
    "addons.multus.manifest",
    "addons.systemUpgrade.manifest",
    "openstack.charts.cinderCsi",
    "openstack.charts.cloudControllerManager",
]


def test_lock_digests_every_artifact_pulumi_up_fetches(project):
    result = cli("lock", "dev", cwd=project.root)
    assert result.returncode == 0, result.stderr
    files = project.served.files
    text = project.lock.read_text()
    document = yaml.safe_load(text)
    assert (document["stack"], document["lockVersion"]) == ("dev", 1)
    artifacts = document["artifacts"]
    assert list(artifacts) == project.keys and set(EXPECTED_KEYS) <= set(project.keys)
    assert artifacts["addons.kubevirt.operatorManifest"] == {
        "url": project.url("/kubevirt-operator.yaml"),
        "version": "v1.9.0",
        "sha256": sha256(files["/kubevirt-operator.yaml"]),
    }
    assert artifacts["addons.charts.cilium"] == {
        "chart": "cilium",
        "repository": project.url("/helm"),
        "url": project.url("/helm/charts/cilium-1.20.2.tgz"),
        "version": "1.20.2",
        "sha256": sha256(files["/helm/charts/cilium-1.20.2.tgz"]),
    }
    assert artifacts["openstack.charts.cloudControllerManager"]["url"] == project.url("/helm/occm.tgz")
    assert artifacts["openstack.charts.cinderCsi"]["url"] == project.url("/elsewhere/cinder.tgz")
    assert artifacts["openstack.charts.cinderCsi"]["sha256"] == sha256(files["/elsewhere/cinder.tgz"])
    # A local manifest is locked too: the digest of the file.
    assert artifacts["addons.multus.manifest"] == {
        "file": "multus.yaml", "version": "v4.3.0", "sha256": sha256(MULTUS.encode())
    }
    # The repository's index is read once for the three charts it serves.
    assert project.served.requests.count("/helm/index.yaml") == 1
    assert text.startswith("# Written by `hybrid-infra lock dev`")
    lines = result.stdout.splitlines()
    assert f"addons.charts.cilium: {project.url('/helm/charts/cilium-1.20.2.tgz')} (1.20.2) sha256:" in lines[1]
    assert lines[-1] == f"{len(project.keys)} artifacts locked in stacks/dev.lock.yaml"
    # Deterministic: locking the same bytes again writes the same file.
    assert cli("lock", "dev", cwd=project.root).returncode == 0
    assert project.lock.read_text() == text


def test_the_plan_shows_each_artifacts_lock_state_offline(project):
    artifacts = locked(project)["artifacts"]
    requests = len(project.served.requests)
    result = cli("plan", "dev", cwd=project.root)
    assert result.returncode == 0, result.stderr
    assert len(project.served.requests) == requests, "the plan fetched something"
    out = project.root / "build" / "dev"
    kubevirt = yaml.safe_load((out / "manifests" / "operator-kubevirt.pinned.yaml").read_text())
    assert kubevirt["lock"] == f"locked sha256:{artifacts['addons.kubevirt.operatorManifest']['sha256']}"
    cilium = yaml.safe_load((out / "manifests" / "helmrelease-kube-system-cilium.yaml").read_text())["helmRelease"]
    digest = artifacts["addons.charts.cilium"]["sha256"]
    assert cilium["lock"] == f"locked sha256:{digest}"
    # The provider gets the archive the program checked, named by its digest, relative to the program.
    assert (cilium["chart"], cilium["repository"], cilium["version"]) == (
        f".hybrid-infra/charts/sha256-{digest}/cilium-1.20.2.tgz", None, "1.20.2"
    )
    report = (out / "report.md").read_text()
    for key, entry in artifacts.items():
        assert f"| {key} |" in report and f"| locked sha256:{entry['sha256']} |" in report
    # A local manifest: locked, checked offline, and how many objects it registers.
    multus = artifacts["addons.multus.manifest"]["sha256"]
    assert f"addons.multus.manifest: multus v4.3.0 from multus.yaml: locked sha256:{multus}; registers 2 objects" in (
        result.stdout.splitlines()
    )
    assert f"| addons.multus.manifest | manifest multus | v4.3.0 | multus.yaml | locked sha256:{multus} | 2 |" in report
    assert "warning" not in result.stderr


def test_a_local_manifest_changed_by_one_byte_is_refused_by_the_plan(project):
    expected = locked(project)["artifacts"]["addons.multus.manifest"]["sha256"]
    changed = MULTUS.replace("15Mi", "16Mi")
    (project.root / "multus.yaml").write_text(changed)
    result = cli("plan", "dev", cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"stacks/Pulumi.dev.yaml: addons.multus.manifest: multus.yaml has sha256 {sha256(changed.encode())}, "
        f"stacks/dev.lock.yaml locks sha256 {expected}; its bytes changed since it was locked: restore them, "
        "or run `hybrid-infra lock dev` if the change is meant"
    ]
    assert not (project.root / "build").exists()


def test_an_artifact_without_an_entry_is_unlocked(project):
    locked(project)
    document = yaml.safe_load(project.lock.read_text())
    del document["artifacts"]["addons.cdi.operatorManifest"]
    del document["artifacts"]["openstack.charts.cinderCsi"]
    project.lock.write_text(yaml.safe_dump(document))
    result = cli("plan", "dev", cwd=project.root)
    assert result.returncode == 0, result.stderr
    manifests_dir = project.root / "build" / "dev" / "manifests"
    assert yaml.safe_load((manifests_dir / "operator-cdi.pinned.yaml").read_text())["lock"] == "unlocked"
    cinder = yaml.safe_load((manifests_dir / "helmrelease-kube-system-cinder-csi.yaml").read_text())["helmRelease"]
    # Unlocked, the chart is the repository's, as without a lock file.
    assert (cinder["lock"], cinder["chart"], cinder["repository"]) == (
        "unlocked", "openstack-cinder-csi", project.url("/helm/")
    )
    assert yaml.safe_load((manifests_dir / "operator-kubevirt.pinned.yaml").read_text())["lock"].startswith("locked sha256:")
    warnings = sorted(line for line in result.stderr.splitlines() if line.startswith("warning: "))
    assert warnings == [
        "warning: addons.cdi.operatorManifest: not in stacks/dev.lock.yaml: `pulumi up` fetches it unverified; "
        "run `hybrid-infra lock dev` to lock it",
        "warning: openstack.charts.cinderCsi: not in stacks/dev.lock.yaml: `pulumi up` fetches it unverified; "
        "run `hybrid-infra lock dev` to lock it",
    ]


def test_without_a_lock_file_every_artifact_is_unlocked_and_nothing_warns(project):
    plan = run_plan(project.stacks, "dev")
    assert sorted(artifact.key for artifact in plan.artifacts) == project.keys
    assert {artifact.lock for artifact in plan.artifacts} == {"unlocked"}
    assert plan.lock is None and plan.simulation.warnings == []


def test_a_lock_made_for_another_version_is_refused_until_locked_again(project, dev_config):
    url = locked(project)["artifacts"]["addons.kubevirt.operatorManifest"]["url"]
    stack = yaml.safe_load((project.stacks / "Pulumi.dev.yaml").read_text())
    stack["config"]["hybrid-infra:addons"]["kubevirt"]["version"] = "v1.9.1"
    stack["config"]["hybrid-infra:addons"]["charts"]["cilium"]["version"] = "1.20.1"
    (project.stacks / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    with pytest.raises(ConfigError) as caught:
        run_plan(project.stacks, "dev")
    lock = project.stacks / "dev.lock.yaml"
    assert caught.value.problems == [
        f"addons.charts.cilium: {lock} locks 1.20.2 from {project.url('/helm')}, the stack asks 1.20.1 from "
        f"{project.url('/helm')}; run `hybrid-infra lock dev` after changing a version or a source"
    ]
    stack["config"]["hybrid-infra:addons"]["charts"]["cilium"]["version"] = "1.20.2"
    (project.stacks / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    with pytest.raises(ConfigError) as caught:
        run_plan(project.stacks, "dev")
    assert caught.value.problems == [
        f"addons.kubevirt.operatorManifest: {lock} locks v1.9.0 from {url}, the stack asks v1.9.1 from {url}; "
        "run `hybrid-infra lock dev` after changing a version or a source"
    ]
    # Locking again mends it: the lock is not read by the command that writes it.
    assert locked(project)["artifacts"]["addons.kubevirt.operatorManifest"]["version"] == "v1.9.1"
    assert run_plan(project.stacks, "dev").lock is not None


def engine(monkeypatch, project: Project) -> None:
    """Run the program as the engine runs it at `pulumi up`: manifests and locked charts fetched, in the
    program's directory."""
    monkeypatch.chdir(project.root)
    monkeypatch.setattr(manifests, "fetches_manifests", lambda: True)
    monkeypatch.setattr(helm, "fetches_manifests", lambda: True)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_pulumi_up_hands_the_provider_the_chart_archive_it_checked(project, monkeypatch):
    digest = locked(project)["artifacts"]["addons.charts.cilium"]["sha256"]
    engine(monkeypatch, project)
    plan = run_plan(project.stacks, "dev")
    releases = {r.inputs["name"]: r.inputs for r in plan.simulation.of_type(HELM_RELEASE)}
    cilium = releases["cilium"]
    archive = f".hybrid-infra/charts/sha256-{digest}/cilium-1.20.2.tgz"
    assert (cilium["chart"], cilium["version"], "repositoryOpts" in cilium) == (archive, "1.20.2", False)
    assert (project.root / archive).read_bytes() == project.served.files["/helm/charts/cilium-1.20.2.tgz"]
    assert (project.root / ".hybrid-infra" / ".gitignore").read_text().endswith("*\n")
    # The same inputs as the offline plan's, on any machine: the path is relative, named by the digest.
    monkeypatch.setattr(helm, "fetches_manifests", lambda: False)
    monkeypatch.setattr(manifests, "fetches_manifests", lambda: False)
    offline = {r.inputs["name"]: r.inputs for r in run_plan(project.stacks, "dev").simulation.of_type(HELM_RELEASE)}
    assert offline == releases
    # The release manifests were fetched, checked and registered object by object.
    names = {r.name for r in plan.simulation.resources}
    assert "dev-kubevirt-operator-configmap-default-kubevirt-operator" in names


def test_pulumi_up_refuses_a_chart_changed_by_one_byte(project, monkeypatch):
    artifacts = locked(project)["artifacts"]
    engine(monkeypatch, project)
    good = project.served.files["/helm/charts/cilium-1.20.2.tgz"]
    bad = bytes([good[0] ^ 1]) + good[1:]
    project.served.files["/helm/charts/cilium-1.20.2.tgz"] = bad
    with pytest.raises(ConfigError) as caught:
        run_plan(project.stacks, "dev")
    url = project.url("/helm/charts/cilium-1.20.2.tgz")
    assert caught.value.problems == [
        f"addons.charts.cilium: {url} has sha256 {sha256(bad)}, {project.stacks / 'dev.lock.yaml'} locks sha256 "
        f"{artifacts['addons.charts.cilium']['sha256']}; its bytes changed since it was locked: restore them, "
        "or run `hybrid-infra lock dev` if the change is meant"
    ]
    assert not (project.root / ".hybrid-infra" / "charts" / f"sha256-{sha256(good)}").exists()
    # An archive kept with other bytes than its name says is fetched again and checked.
    project.served.files["/helm/charts/cilium-1.20.2.tgz"] = good
    kept = project.root / lockfile.chart_archive(
        LockEntry("addons.charts.cilium", "1.20.2", sha256(good)), "cilium"
    )
    kept.parent.mkdir(parents=True)
    kept.write_bytes(bad)
    run_plan(project.stacks, "dev")
    assert kept.read_bytes() == good


def test_pulumi_up_refuses_a_manifest_changed_by_one_byte(project, monkeypatch):
    artifacts = locked(project)["artifacts"]
    engine(monkeypatch, project)
    good = project.served.files["/kubevirt-operator.yaml"]
    bad = good.replace(b"a: b", b"a: c")
    project.served.files["/kubevirt-operator.yaml"] = bad
    with pytest.raises(ConfigError) as caught:
        run_plan(project.stacks, "dev")
    expected = artifacts["addons.kubevirt.operatorManifest"]["sha256"]
    line = (
        f"addons.kubevirt.operatorManifest: {project.url('/kubevirt-operator.yaml')} has sha256 {sha256(bad)}, "
        f"{project.stacks / 'dev.lock.yaml'} locks sha256 {expected}; its bytes changed since it was locked: "
        "restore them, or run `hybrid-infra lock dev` if the change is meant"
    )
    assert caught.value.problems == [line]
    # Where the bytes are read: read_manifest itself, as the engine calls it.
    pinned = PinnedManifest(
        "kubevirt", "v1.9.0", ManifestSource(url=project.url("/kubevirt-operator.yaml")), "unused",
        "addons.kubevirt.operatorManifest",
    )
    with recording(Ledger(load_lock(project.stacks / "dev.lock.yaml", "dev"))):
        with pytest.raises(ConfigError) as caught:
            read_manifest(pinned, project.root)
        assert caught.value.problems == [line]
        project.served.files["/kubevirt-operator.yaml"] = good
        assert read_manifest(pinned, project.root) == [yaml.safe_load(good)]


def test_lock_refuses_what_it_cannot_fetch_and_writes_nothing(project):
    del project.served.files["/cdi-operator.yaml"]
    del project.served.files["/helm/occm.tgz"]
    result = cli("lock", "dev", cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"stacks/Pulumi.dev.yaml: addons.cdi.operatorManifest: {project.url('/cdi-operator.yaml')} cannot be fetched "
        "(HTTP Error 404: Not Found)",
        f"stacks/Pulumi.dev.yaml: openstack.charts.cloudControllerManager: {project.url('/helm/occm.tgz')} cannot be "
        "fetched (HTTP Error 404: Not Found)",
    ]
    assert not project.lock.exists()


def test_lock_refuses_bytes_that_disagree_with_a_digest_already_pinned(project, dev_config):
    stated = "0" * 64
    index = yaml.safe_load(project.served.files["/helm/index.yaml"])
    index["entries"]["cilium"][0]["digest"] = stated
    project.served.files["/helm/index.yaml"] = yaml.safe_dump(index).encode()
    stack = yaml.safe_load((project.stacks / "Pulumi.dev.yaml").read_text())
    stack["config"]["hybrid-infra:addons"]["kubevirt"]["operatorManifest"]["sha256"] = "1" * 64
    (project.stacks / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    result = cli("lock", "dev", cwd=project.root)
    assert result.returncode == 2
    files = project.served.files
    assert result.stderr.splitlines() == [
        f"stacks/Pulumi.dev.yaml: addons.charts.cilium: {project.url('/helm/charts/cilium-1.20.2.tgz')} has sha256 "
        f"{sha256(files['/helm/charts/cilium-1.20.2.tgz'])}, the repository's index.yaml states {stated}; not locked",
        f"stacks/Pulumi.dev.yaml: addons.kubevirt.operatorManifest: {project.url('/kubevirt-operator.yaml')} has sha256 "
        f"{sha256(files['/kubevirt-operator.yaml'])}, the stack pins {'1' * 64} "
        "(addons.kubevirt.operatorManifest.sha256); not locked",
    ]
    assert not project.lock.exists()


def test_a_chart_version_the_repository_does_not_list_names_the_key(project):
    index = resolve_reference(project.url("/helm"), "index.yaml")
    with pytest.raises(ConfigError) as caught:
        lockfile.chart_url(
            "addons.charts.cilium",
            "cilium",
            ChartSpec(repository=project.url("/helm"), version="1.19.0"),
            project.served.files["/helm/index.yaml"],
        )
    assert caught.value.problems == [
        f"addons.charts.cilium.version: '1.19.0' is not a version of chart cilium in {index}; "
        "give an exact one, such as 1.20.2, 1.20.1"
    ]


def test_a_broken_lock_file_is_one_line_per_problem_naming_that_file(project):
    project.lock.write_text(
        "lockVersion: 1\nstack: dev\nartifacts:\n"
        "  addons.kubevirt.operatorManifest: {url: 'https://x.example/k.yaml', version: v1.9.0, sha256: abc}\n"
        "  addons.cdi.operatorManifest: {version: v1.66.0, sha256: '" + "a" * 64 + "', digest: x}\n"
    )
    result = cli("plan", "dev", cwd=project.root)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "stacks/dev.lock.yaml: artifacts.addons.kubevirt.operatorManifest.sha256: 'abc' is not allowed; use the 64 "
        "lower-case hex digits of a sha256 digest; run `hybrid-infra lock dev` to write it again",
        "stacks/dev.lock.yaml: artifacts.addons.cdi.operatorManifest.digest: unknown key; use chart, file, "
        "repository, sha256, url, version",
        "stacks/dev.lock.yaml: artifacts.addons.cdi.operatorManifest: give url or file, one of them; "
        "run `hybrid-infra lock dev` to write it again",
    ]
    with pytest.raises(LockFileError):
        load_lock(project.lock, "prod")


@pytest.mark.parametrize(
    ("base", "reference", "resolved"),
    [
        # helm v3.19.0, pkg/repo/chartrepo_test.go, TestResolveReferenceURL
        ("http://localhost:8123/charts/", "nginx-0.2.0.tgz", "http://localhost:8123/charts/nginx-0.2.0.tgz"),
        (
            "http://localhost:8123/charts-with-no-trailing-slash",
            "nginx-0.2.0.tgz",
            "http://localhost:8123/charts-with-no-trailing-slash/nginx-0.2.0.tgz",
        ),
        ("http://localhost:8123", "https://charts.helm.sh/stable/nginx-0.2.0.tgz", "https://charts.helm.sh/stable/nginx-0.2.0.tgz"),
        (
            "http://localhost:8123/charts%2fwith%2fescaped%2fslash",
            "nginx-0.2.0.tgz",
            "http://localhost:8123/charts%2fwith%2fescaped%2fslash/nginx-0.2.0.tgz",
        ),
        (
            "http://localhost:8123/charts?with=queryparameter",
            "nginx-0.2.0.tgz",
            "http://localhost:8123/charts/nginx-0.2.0.tgz?with=queryparameter",
        ),
        ("http://localhost:8123", "index.yaml", "http://localhost:8123/index.yaml"),
    ],
)
def test_chart_urls_resolve_as_helm_resolves_them(base, reference, resolved):
    assert resolve_reference(base, reference) == resolved


def test_pulumi_up_finds_the_lock_beside_the_running_stack_of_its_own_project(tmp_path, monkeypatch):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "dev.lock.yaml").write_text(lockfile.render_lock("dev", []))
    (tmp_path / "Pulumi.yaml").write_text("name: hybrid-infra\nruntime: python\nstackConfigDir: stacks\n")
    monkeypatch.chdir(tmp_path)
    lockfile._discovered.clear()
    found = lockfile.discover_lock("hybrid-infra", "dev")
    assert found is not None and found.path == Path("stacks/dev.lock.yaml")
    # Another project's program (the component provider serving it): not this project's lock.
    assert lockfile.discover_lock("their-project", "dev") is None
    assert lockfile.discover_lock("hybrid-infra", "prod") is None
    lockfile._discovered.clear()


@pytest.mark.parametrize(
    ("stack", "keys"),
    [
        ("dev", ["addons.charts.cilium", "openstack.charts.cinderCsi", "openstack.charts.cloudControllerManager"]),
        ("prod", ["addons.charts.cilium", "vsphere.charts.cloudControllerManager"]),
        ("aws", ["addons.charts.cilium", "aws.charts.cloudControllerManager", "aws.charts.ebsCsiDriver"]),
    ],
)
def test_every_chart_of_the_shipped_stacks_is_named_by_its_key(stack, keys):
    """The lock file names each chart by the key that configures it, found in the stack's spec."""
    assert sorted(a.key for a in run_plan(STACKS, stack).artifacts if a.kind == "chart") == keys


# --- Multus's daemon ----------------------------------------------------------------------------


def daemon(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]["template"]["spec"]["containers"][0]


def test_multus_daemon_memory_is_raised_from_the_release_50mi():
    adjust = release_image("v4.3.0")
    released = yaml.safe_load(MULTUS.split("---\n")[1])
    pod = adjust(released)["spec"]["template"]["spec"]
    assert daemon(released)["resources"] == {
        "requests": {"cpu": "100m", "memory": "100Mi"},
        "limits": {"cpu": "100m", "memory": "512Mi"},
    }
    assert pod["initContainers"][0]["resources"] == {"requests": {"cpu": "10m", "memory": "15Mi"}}
    assert [c["image"] for c in [*pod["initContainers"], *pod["containers"]]] == [
        "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick"
    ] * 2
    # More than that, or no limit at all, stays as the manifest gives it.
    roomy = yaml.safe_load(MULTUS.split("---\n")[1])
    daemon(roomy)["resources"] = {"requests": {"memory": "1Gi"}}
    assert daemon(adjust(roomy))["resources"] == {"requests": {"memory": "1Gi"}}
