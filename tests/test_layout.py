"""The separation the design asks for: no module outside ``platforms/`` names a platform, ``bootstrap/``
imports nothing of ``platforms/``, and ``import hybrid_infra`` needs no platform SDK."""

from __future__ import annotations

import re
import subprocess
import sys

from hybrid_infra import platforms
from tests.conftest import ROOT

PACKAGE = ROOT / "hybrid_infra"


def sources(folder):
    return [p for p in sorted(folder.rglob("*")) if p.suffix in (".py", ".sh") and "__pycache__" not in p.parts]


def test_no_module_outside_platforms_names_a_platform():
    words = set(platforms.names()) | {entry.sdk for entry in platforms.REGISTRY.values()}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(words))) + r")\b", re.IGNORECASE)
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources(PACKAGE)
        if PACKAGE / "platforms" not in path.parents
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)


def test_bootstrap_imports_nothing_of_the_platforms():
    for path in sources(PACKAGE / "bootstrap"):
        assert not re.search(r"^\s*(from|import)\s+(\.\.|hybrid_infra\.)platforms", path.read_text(), re.M), path


def test_importing_the_library_imports_no_platform_sdk():
    sdks = [entry.sdk for entry in platforms.REGISTRY.values()]
    code = f"import sys, hybrid_infra, hybrid_infra.cli; print([m for m in {sdks!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
