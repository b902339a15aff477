"""The API reference: `make docs` builds it from the docstrings, offline, one page per public module."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_make_docs_builds_a_page_per_public_module(tmp_path):
    result = subprocess.run(
        ["make", "--no-print-directory", "docs", f"DOCS={tmp_path}", f"VENV={Path(sys.prefix)}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    modules = re.search(r"^API_MODULES := (.*?)(?<!\\)$", (ROOT / "Makefile").read_text(), re.S | re.M)
    assert modules is not None
    for module in modules.group(1).replace("\\", " ").split():
        page = tmp_path / (module.replace(".", "/") + ".html")
        assert page.is_file(), module
    top = (tmp_path / "hybrid_infra.html").read_text()
    for name in ("HybridPlatform", "KubernetesCluster", "stack_spec"):
        assert f'id="{name}"' in top, name
    # Nothing fetched when the pages are opened: no script or style from elsewhere.
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', top)
