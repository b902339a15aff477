from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_infra.config.fields import DEFAULT_KUBERNETES_VERSION
from hybrid_infra.offline.plan import load_stack
from hybrid_infra.offline.simulate import offline_runtime

ROOT = Path(__file__).resolve().parent.parent
# kubernetes-validate's schemas of the default Kubernetes minor.
VALIDATE_VERSION = ".".join(DEFAULT_KUBERNETES_VERSION.split(".")[:2]) + ".0"
STACKS = ROOT / "stacks"
STAND_IN = "simulated-secret-for-"


@pytest.fixture(scope="session", autouse=True)
def offline_runs() -> Iterator[None]:
    """Each plan and simulation of the suite runs on the offline runtime, as `hybrid-infra plan` runs
    (hybrid_infra.offline.simulate.offline_runtime): a stack's plan takes a third to half the time,
    the whole suite about 6 minutes instead of 7.5 (2 cores). Between runs, the SDK and the collector
    are as they ship. Users' tests run without it unless they opt in (tests/test_users_tests.py);
    tests/test_offline_differential.py compares every stack's plan files with it and without."""
    with offline_runtime.each_run():
        yield


def require_tool(name: str) -> str:
    """The path of a checker; skipped where it is absent, a failure where CI requires it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package {name}; .ci/run installs it)"
        if os.environ.get("HYBRID_INFRA_REQUIRE_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def cloud_init_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("cloud-init"), "schema", "--config-file", str(path)], capture_output=True, text=True
    )


def written_files(cloud_config: str) -> dict[str, str]:
    """What cloud-init writes from a cloud-config's write_files, by path, compressed entries unpacked."""
    written = {}
    for entry in yaml.safe_load(cloud_config).get("write_files", []):
        content = entry["content"]
        if entry.get("encoding") == "gz+b64":
            content = gzip.decompress(base64.b64decode(content)).decode()
        written[entry["path"]] = content
    return written


def load_dev_config() -> dict[str, Any]:
    """The dev stack's config as the plan sees it (encrypted values replaced by stand-ins)."""
    return copy.deepcopy(load_stack(STACKS, "dev").values)


@pytest.fixture
def dev_config() -> dict[str, Any]:
    """The dev stack's config, a fresh copy to change in a test."""
    return load_dev_config()


def encrypted(value: Any) -> Any:
    """The stand-ins of encrypted values (from ``load_stack``) written back as ``secure:`` values."""
    if isinstance(value, str) and value.startswith(STAND_IN):
        return {"secure": "v1:test:" + value.removeprefix(STAND_IN)}
    if isinstance(value, dict):
        return {key: encrypted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [encrypted(item) for item in value]
    return value


def secret_keys(config: dict[str, Any]) -> list[str]:
    """The config keys holding an encrypted value, as the engine lists them to the program."""
    return [key for key, value in config.items() if STAND_IN in json.dumps(value)]


def write_stack(directory: Path, name: str, config: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": encrypted(config)}, sort_keys=False))
    return path
