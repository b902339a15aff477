"""The documentation: `make docs` builds the API reference from the docstrings, offline, one page per
public module; the Markdown pages link only to files a clone has, and name the node paths the code uses."""

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


def _markdown_files() -> list[Path]:
    return sorted([*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *ROOT.glob("examples/*/README.md")])


def _ignored_dirs() -> set[str]:
    """The top-level directories git ignores (build/, .venv/, ...): outputs no clone starts with."""
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return {line.strip().strip("/") for line in lines if line.strip().endswith("/") and "*" not in line}


def test_every_relative_link_of_the_docs_names_a_file_of_the_repository():
    ignored = _ignored_dirs()
    broken = []
    for path in _markdown_files():
        text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            target = target.split("#")[0]
            if not target or re.match(r"[a-z]+:", target):
                continue
            resolved = (path.parent / target).resolve()
            inside = resolved.relative_to(ROOT).parts if resolved.is_relative_to(ROOT) else ("..",)
            if not resolved.exists() or inside[0] in ignored:
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)


def test_the_node_paths_and_units_the_troubleshooting_page_names_are_the_bootstraps():
    sources = "".join(
        path.read_text() for path in sorted((ROOT / "hybrid_infra").rglob("*")) if path.suffix in (".py", ".sh")
    )
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    named = set(re.findall(r"`(/(?:etc|var|usr|run)/[^`\s<]+)", page))
    named |= set(re.findall(r"`([a-z-]+\.service)`", page))
    assert named
    assert not sorted(name for name in named if name not in sources)
